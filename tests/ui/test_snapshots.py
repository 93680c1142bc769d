"""SVG snapshots of the main screen (pytest-textual-snapshot): 80x24 and 160x48, dark and monochrome.

Deterministic: fixed clock and timezone, fixed events, a fixed alert; regenerate the baselines with
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
    AlertView("user_limit", "critical", "alice", "alice used 96% of plan pro", since=NOW - 240),
    AlertView("estimated_share", "warning", "google", "33% of requests estimated", since=NOW - 90),
)


class SnapshotApp(TokentopApp):
    def evaluate_alerts(self, now):  # noqa: ANN001, ANN202
        return ALERTS, (), ()


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
    await pilot.pause()


@pytest.mark.parametrize("theme", ["dark", "monochrome"])
@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_main_screen(snap_compare, make_app, theme, size):
    assert snap_compare(snapshot_app(make_app, theme), terminal_size=size, run_before=settled)
