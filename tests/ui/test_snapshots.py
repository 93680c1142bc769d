"""SVG snapshots of the main screen (pytest-textual-snapshot) at 80x24, 120x40, 160x48 and 200x60 with
alerts active (and the monochrome theme at two sizes), plus the help screen and the alert history.

Deterministic: fixed clock and timezone, fixed events, fixed alerts; regenerate the baselines with
``pytest tests/ui/test_snapshots.py --snapshot-update`` and review the SVGs before committing.
"""

from __future__ import annotations

import pytest

from tokentop.config import Config
from tokentop.core.periods import Period
from tokentop.core.plans import Plan, PlanBook
from tokentop.core.snapshot import AlertView
from tokentop.ui.app import TokentopApp
from tokentop.ui.widgets.requests import RequestsTable

from .conftest import NOW, sample_events, wait_for
from .support import event

ALERTS = (
    AlertView("quota", "critical", "user=alice", "user alice used 19,210 of 20,000 tokens (96% of plan pro) this "
              "period and at 7.92M tokens/h will reach the limit in 2m39s, before the period ends", since=NOW - 240),
    AlertView("untracked_provider", "critical", "provider=google source=ledger",
              "provider google: 4 requests (1,045 tokens) in gateway but none recorded in ledger in the last 10m",
              since=NOW - 159),
    AlertView("accuracy_drop", "warning", "provider=google", "provider google: 33% of 4 requests in the last 5m "
              "carried provider-reported counts (2 estimated, 1 missing); expected at least 90%", since=NOW - 90),
    AlertView("logging_stopped", "warning", "source=gateway platform=instagram",
              "platform instagram in source gateway sent no events for 48s (usually at most 2.2s between events, "
              "earlier outages left out; alerting after 45s; 1,050 events before)", since=NOW - 3),
)
RESOLVED = (AlertView("spike", "warning", "user=bob", "user bob: 42,551 tokens/min over the last 2m, 6x the 7,092 "
                      "tokens/min of the 30m before", since=NOW - 900, resolved_at=NOW - 300),)


class SnapshotApp(TokentopApp):
    def evaluate_alerts(self, now):  # noqa: ANN001, ANN202
        return ALERTS, RESOLVED, ()


def snapshot_app(make_app, theme: str) -> TokentopApp:
    month = Period.parse("month")
    plans = PlanBook({"pro": Plan("pro", 20_000, month), "team": Plan("team", 500_000, month)},
                     {"alice": "pro", "bob": "team"})
    events = sample_events() + [event(99, ts=NOW - 5, user="[bold]x[/]", model="\x1b]0;pwn\x07",
                                      provider="openai", prompt=7, completion=3, token_source="estimated")]
    app = make_app(events, config=Config(plans=plans), theme=theme)
    app.__class__ = SnapshotApp
    return app


async def settled(pilot) -> None:  # noqa: ANN001
    await wait_for(pilot, lambda: pilot.app.query_one(RequestsTable).row_count == 13)
    await wait_for(pilot, lambda: pilot.app.alerts.row_count == len(ALERTS))
    await pilot.pause()


SIZES = {"80x24": (80, 24), "120x40": (120, 40), "160x48": (160, 48), "200x60": (200, 60)}


@pytest.mark.parametrize("theme, size", [*(("dark", s) for s in SIZES), ("monochrome", "80x24"),
                                         ("monochrome", "160x48")])
def test_main_screen(snap_compare, make_app, theme, size):
    assert snap_compare(snapshot_app(make_app, theme), terminal_size=SIZES[size], run_before=settled)


def test_alerts_panel_at_80x24(snap_compare, make_app):
    """One panel at a time: the alerts panel, its selected alert whole in the strip underneath."""

    async def alerts(pilot) -> None:  # noqa: ANN001
        await settled(pilot)
        await pilot.press("4", "down")
        await pilot.pause()

    assert snap_compare(snapshot_app(make_app, "dark"), terminal_size=(80, 24), run_before=alerts)


def test_help_screen_at_80x24(snap_compare, make_app):
    async def help_screen(pilot) -> None:  # noqa: ANN001
        await settled(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(snapshot_app(make_app, "dark"), terminal_size=(80, 24), run_before=help_screen)


def test_alert_history_at_120x40(snap_compare, make_app):
    async def history(pilot) -> None:  # noqa: ANN001
        await settled(pilot)
        await pilot.press("a")
        await pilot.pause()

    assert snap_compare(snapshot_app(make_app, "dark"), terminal_size=(120, 40), run_before=history)
