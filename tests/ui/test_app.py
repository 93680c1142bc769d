"""Pilot tests: drive the live monitor with keys and check what the panels show.

Events come either from :class:`ListSource` (fixed batches) or from a real JSONL file appended while
the app runs (``follow_file``: the real JSONL source).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from rich.console import Console
from textual.screen import ModalScreen
from textual.widgets import Input

from tokentop.core.snapshot import AlertView
from tokentop.sources.base import Batch, SourceStatus
from tokentop.ui.app import TokentopApp
from tokentop.ui.screens.alerts import AlertHistoryScreen
from tokentop.ui.screens.detail import AlertDetailScreen, GroupDetailScreen, RequestDetailScreen
from tokentop.ui.screens.filter import FilterScreen
from tokentop.ui.screens.help import HelpScreen
from tokentop.ui.widgets.alerts import AlertsTable
from tokentop.ui.widgets.header import StatusHeader
from tokentop.ui.widgets.providers import ProvidersTable
from tokentop.ui.widgets.requests import RequestsTable
from tokentop.ui.widgets.users import UsersTable

from .conftest import NOW, sample_events, wait_for
from .support import ListSource, event, follow_file, record


def column(table, key: str) -> list[str]:  # noqa: ANN001
    """The text of one column, top to bottom, as displayed."""
    index = index_of(table, key)
    return [table.get_row_at(i)[index].plain for i in range(table.row_count)]


def index_of(table, key: str) -> int:  # noqa: ANN001
    return table.column_keys().index(key)


def rendered(renderable) -> str:  # noqa: ANN001
    console = Console(width=160, color_system=None)
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()


def header_text(app: TokentopApp) -> str:
    return str(app.query_one(StatusHeader).render())


async def test_requests_from_a_real_file_appear_newest_first(tmp_path, make_app):
    # GIVEN a JSONL file with three records, followed by the app
    path = tmp_path / "gateway.jsonl"
    path.write_bytes(b"".join(record(i, ts=NOW - 60 + i, user=f"user{i}") for i in range(3)))
    app = make_app(sources=[follow_file(path)])
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(RequestsTable)
        await wait_for(pilot, lambda: table.row_count == 3)
        # WHEN a writer appends one more record
        with path.open("ab") as f:
            f.write(record(3, ts=NOW - 10, user="newest"))
        # THEN it shows up on top
        await wait_for(pilot, lambda: table.row_count == 4)
        assert column(table, "user")[0] == "newest"
        assert column(table, "user")[1:] == ["user2", "user1", "user0"]


async def test_hostile_strings_are_shown_literally(make_app):
    hostile = ["[bold]x[/]", "[/", "[@click=app.quit]q[/]", "\x1b]0;pwn\x07", "evil\u202eexe"]
    events = [event(i, ts=NOW - 100 + i, user=h, model=h, provider="openai", raw=h.encode())
              for i, h in enumerate(hostile)]
    app = make_app(events)
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(RequestsTable)
        await wait_for(pilot, lambda: table.row_count == 5)
        users = set(column(table, "user"))
        assert {"[bold]x[/]", "[/", "[@click=app.quit]q[/]", "\\x1b]0;pwn\\x07", "evil\\u202eexe"} == users
        assert not any("\x1b" in u or "\u202e" in u for u in users)
        # the users panel, the detail view and the raw record survive them too
        assert len(app.query_one(UsersTable).rows) == 5
        table.focus()
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, RequestDetailScreen))
        await pilot.pause()
        raw = rendered(app.screen.query_one("#detail-raw").content)
        fields = rendered(app.screen.query_one("#detail-fields").content)
        assert "evil\\u202eexe" in raw and "evil\\u202eexe" in fields
        assert "\u202e" not in raw + fields
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, RequestDetailScreen))
        assert app.is_running


async def test_pause_freezes_panels_while_ingestion_continues(tmp_path, make_app):
    path = tmp_path / "gateway.jsonl"
    path.write_bytes(record(0, ts=NOW - 30))
    app = make_app(sources=[follow_file(path)])
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(RequestsTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        await pilot.press("space")
        assert app.paused and "PAUSED" in header_text(app)
        with path.open("ab") as f:
            f.write(record(1, ts=NOW - 20) + record(2, ts=NOW - 10))
        await wait_for(pilot, lambda: app.aggregator.events == 3)
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.events_total == 3)
        assert table.row_count == 1
        await pilot.press("p")
        await wait_for(pilot, lambda: table.row_count == 3)
        assert not app.paused and "PAUSED" not in header_text(app)


async def test_window_cycles_through_5m_1h_24h_period(make_app):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        seen = [app.window]
        for _ in range(4):
            await pilot.press("w")
            await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.window == app.window)
            seen.append(app.window)
        assert seen == ["1h", "24h", "period", "5m", "1h"]
        # the 5m window counts the last five minutes' events (to the aggregator's grain: at most the
        # whole minute the window starts in)
        app.window = "5m"
        app.tick()
        await wait_for(pilot, lambda: app.snapshot.window == "5m")
        exact = sum(1 for e in sample_events() if e.ts >= NOW - 300)
        whole_minutes = sum(1 for e in sample_events() if e.ts >= (NOW - 300) // 60 * 60)
        assert exact <= app.snapshot.totals.requests <= whole_minutes < 12
        # paused, a new window is still shown: the user asked for it
        await pilot.press("space", "w")
        await wait_for(pilot, lambda: "window 1h" in str(app.panels["panel-providers"].border_title))


async def test_refresh_rate_stays_between_1_and_4_hz(make_app):
    app = make_app(refresh_hz=2)
    async with app.run_test() as pilot:
        await pilot.press("plus", "plus", "plus", "plus")
        assert app.refresh_hz == 4.0
        await pilot.press(*["minus"] * 6)
        assert app.refresh_hz == 1.0
        await pilot.pause()
        assert "1 Hz" in header_text(app)


async def test_filter_narrows_requests_and_clearing_restores_them(make_app):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(RequestsTable)
        await wait_for(pilot, lambda: table.row_count == 12)
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.screen, FilterScreen))
        await pilot.press(*"bob", "enter")
        await wait_for(pilot, lambda: table.row_count == 4)
        assert set(column(table, "user")) == {"bob"}
        assert "filter: bob" in header_text(app)
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.screen, FilterScreen))
        app.screen.query_one(Input).value = "user:carol model:gemini"
        await pilot.press("enter")
        await wait_for(pilot, lambda: table.row_count == 4)
        assert set(column(table, "model")) == {"gemini-2.5-pro"}
        assert app.query_one(UsersTable).rows == ["carol"]
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.screen, FilterScreen))
        app.screen.query_one(Input).value = ""
        await pilot.press("enter")
        await wait_for(pilot, lambda: table.row_count == 12)


async def test_a_model_filter_narrows_the_providers_panel_in_both_views(make_app):
    """One meaning across panels: ``model:gpt-4o`` by provider counts only each provider's GPT-4o
    requests (not the provider's whole volume), and by provider/model shows only that model."""
    events = [event(i, ts=NOW - 300 + i, provider="openai", model="gpt-4o" if i % 2 else "gpt-4o-mini",
                    prompt=100, completion=0) for i in range(10)]
    events += [event(20 + i, ts=NOW - 200 + i, provider="azure", model="gpt-4o", prompt=1000, completion=0)
               for i in range(3)]
    events += [event(30, ts=NOW - 100, provider="anthropic", model="claude-sonnet-4", prompt=5, completion=0)]
    app = make_app(events)
    async with app.run_test(size=(160, 48)) as pilot:
        providers = app.query_one(ProvidersTable)
        await wait_for(pilot, lambda: providers.row_count == 3)
        app._set_filter("model:gpt-4o")
        await wait_for(pilot, lambda: providers.row_count == 2)
        tokens = dict(zip(column(providers, "name"), column(providers, "tokens")))
        requests = dict(zip(column(providers, "name"), column(providers, "requests")))
        # "gpt-4o" is a substring of "gpt-4o-mini" too, as in the requests panel: 10 openai requests
        assert tokens == {"azure": "3,000", "openai": "1,000"} and requests == {"azure": "3", "openai": "10"}
        app._set_filter("model:gpt-4o-mini")
        await wait_for(pilot, lambda: providers.row_count == 1)
        assert column(providers, "tokens") == ["500"]
        assert "model:gpt-4o-mini" in str(app.panels["panel-providers"].border_title)
        await pilot.press("3", "m")
        await wait_for(pilot, lambda: providers.dimension == "model" and providers.row_count == 1)
        assert column(providers, "name") == ["openai/gpt-4o-mini"]
        app._set_filter("provider:azure")
        await wait_for(pilot, lambda: providers.row_count == 1)
        assert column(providers, "name") == ["azure/gpt-4o"]


async def test_sort_cycles_the_focused_tables_column(make_app):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        providers = app.query_one(ProvidersTable)
        await wait_for(pilot, lambda: providers.row_count == 3)
        await pilot.press("3")
        assert app.focused is providers and providers.sort_key == "tokens"
        tokens = [int(t.replace(",", "")) for t in column(providers, "tokens")]
        assert tokens == sorted(tokens, reverse=True)
        await pilot.press("s")
        assert providers.sort_key == "share"
        await pilot.press("less_than_sign", "less_than_sign")
        assert providers.sort_key == "requests"
        await pilot.press("less_than_sign")
        assert providers.sort_key == "name"
        assert column(providers, "name") == ["anthropic", "google", "openai"]


async def test_theme_cycles_and_restyles(make_app):
    app = make_app(theme="monochrome")
    async with app.run_test() as pilot:
        assert app.theme == "tokentop-monochrome"
        before = app.palette
        assert "reverse" in str(before["critical"])
        await pilot.press("t")
        assert app.theme != "tokentop-monochrome" and app.theme in app.theme_names
        assert app.palette != before
        assert {"tokentop-dark", "tokentop-light", "tokentop-high-contrast", "tokentop-monochrome"} <= set(
            app.theme_names)


async def test_every_builtin_theme_renders_the_main_screen(make_app):
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.requests.row_count == 12)
        seen = {}
        for _ in app.theme_names:
            await pilot.press("t")
            await pilot.pause()
            assert app.requests.render_line(1).cell_length == app.requests.size.width
            seen[app.theme] = app.palette
        assert len(seen) == len(app.theme_names) >= 4
        assert len({str(p["critical"]) for p in seen.values()}) == len(seen)  # each theme styles it its own way


async def test_invalid_user_theme_is_reported_and_falls_back(tmp_path, make_app):
    themes = tmp_path / "themes"
    themes.mkdir()
    (themes / "broken.toml").write_text('name = "broken"\n[colors]\nprimary = "not-a-colour"\n')
    (themes / "garbage.toml").write_text("this is [not toml")
    (themes / "mine.toml").write_text('name = "mine"\n[colors]\nprimary = "#123456"\n')
    app = make_app(theme="broken")
    async with app.run_test() as pilot:
        await pilot.pause()
        messages = [str(n.message) for n in app.notices.posted]
        assert any("broken.toml" in m and "not a colour" in m for m in messages)
        assert any("garbage.toml" in m for m in messages)
        assert any("unknown theme 'broken'" in m for m in messages)
        assert app.theme == "tokentop-dark"
        assert "tokentop-mine" in app.theme_names


async def test_help_screen_opens_and_closes(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        keys = "".join(rendered(s.content) for s in app.screen.query(".help-keys"))
        assert "Filter by user, provider, model" in keys and "Go to the alerts panel" in keys
        # ticks keep arriving while a modal screen is on top; the panels underneath stay live
        before = app.snapshot
        await wait_for(pilot, lambda: app.snapshot is not before)
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen))


async def test_detail_views_for_a_user_and_a_provider(make_app):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        users = app.query_one(UsersTable)
        await wait_for(pilot, lambda: users.row_count == 3)
        await pilot.press("2", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, GroupDetailScreen))
        screen = app.screen
        assert screen.dimension == "user" and screen.subject == users.get_row_at(0)[0].plain
        assert screen.query_one(RequestsTable).row_count == 4
        await pilot.press("escape")
        await pilot.press("3", "m")
        providers = app.query_one(ProvidersTable)
        await wait_for(pilot, lambda: providers.dimension == "model" and providers.row_count == 3)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, GroupDetailScreen))
        assert app.screen.dimension == "model" and "/" in app.screen.subject
        assert app.screen.counts is not None and app.screen.counts.requests == 4


async def test_scrolling_away_stops_following_and_counts_new_requests(tmp_path, make_app):
    path = tmp_path / "gateway.jsonl"
    path.write_bytes(b"".join(record(i, ts=NOW - 100 + i, user=f"u{i}") for i in range(10)))
    app = make_app(sources=[follow_file(path)])
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(RequestsTable)
        await wait_for(pilot, lambda: table.row_count == 10)
        await pilot.press("1", "down", "down")
        assert not table.following
        with path.open("ab") as f:
            f.write(b"".join(record(i, ts=NOW - 50 + i, user=f"late{i}") for i in range(3)))
        await wait_for(pilot, lambda: table.missed == 3)
        assert table.row_count == 10
        assert "3 new" in str(app.query_one("#panel-requests").border_title)
        await pilot.press("f")
        await wait_for(pilot, lambda: table.row_count == 13)
        assert table.following and table.cursor_row == 0 and column(table, "user")[0] == "late2"


@dataclass
class Transition:
    kind: str
    alert: AlertView


async def test_alerts_panel_toasts_bell_and_history(make_app):
    started = AlertView("user_limit", "critical", "[bold]alice[/]", "95% of plan \x1b[2J", since=NOW - 120)
    warning = AlertView("estimated_share", "warning", "openai", "40% estimated", since=NOW - 60)
    resolved = AlertView("source_stale", "warning", "ledger.db", "no reads for 5m", since=NOW - 900,
                         resolved_at=NOW - 300)
    calls = []

    class AlertingApp(TokentopApp):
        def evaluate_alerts(self, now):  # noqa: ANN001, ANN202
            first = not calls
            calls.append(now)
            news = [Transition("start", started), Transition("escalate", warning), Transition("end", resolved)]
            return (started, warning), (resolved,), (news if first else [])

    app = make_app(sources=[], bell=True)
    app.__class__ = AlertingApp
    rings = []
    app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one("#alerts", AlertsTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        assert column(table, "severity") == ["▲ CRIT", "● WARN"]
        assert "[bold]alice[/]" in column(table, "subject")
        assert "95% of plan \\x1b[2J" in column(table, "message")
        # One notice for both new alerts (on the notice line, not over the Alerts panel): the worst first.
        notices = list(app.notices.posted)
        assert len(notices) == 1 and notices[0].severity == "error"
        assert notices[0].title.startswith("2 new alerts") and "[bold]alice[/]" in notices[0].message
        assert "\x1b" not in notices[0].message and "\\x1b[2J" in notices[0].message
        assert rings == [1]  # one bell for everything new in one evaluation
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertHistoryScreen))
        history = app.screen.query_one("#history-resolved", AlertsTable)
        await wait_for(pilot, lambda: history.row_count == 1)
        assert column(history, "subject") == ["ledger.db"]
        assert app.screen.query_one("#history-active", AlertsTable).row_count == 2
        history.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertDetailScreen))
        assert app.screen.alert is resolved
        await pilot.press("escape", "escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ModalScreen))
        await pilot.press("4", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertDetailScreen))
        assert app.screen.alert is started
        fields = rendered(app.screen.query_one("#detail-fields").content)
        assert "95% of plan \\x1b[2J" in fields and "\x1b" not in fields
        assert len(rings) == 1  # a started alert rings once, not every tick


async def test_compact_layout_at_80x24_shows_one_panel_at_a_time(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.query_one(RequestsTable).row_count == 12)
        panels = app.query_one("#panels")
        assert panels.has_class("-compact")
        assert app.query_one("#panel-requests").display
        assert not app.query_one("#panel-users").region.area
        requests = app.query_one(RequestsTable)
        assert requests.column_keys() == ["time", "user", "model", "total", "token_source", "status"]
        await pilot.press("2")
        await pilot.pause()
        assert app.query_one("#panel-users").region.area and not app.query_one("#panel-requests").region.area
        await pilot.resize_terminal(160, 48)
        await wait_for(pilot, lambda: not panels.has_class("-compact"))
        assert app.query_one("#panel-requests").region.area and app.query_one("#panel-users").region.area
        assert len(requests.column_keys()) == 14


async def test_a_large_batch_is_ingested_in_chunks_and_the_table_capped(make_app):
    events = [event(i, ts=NOW - 3000 + i * 0.1, user=f"u{i % 50}") for i in range(10_000)]
    app = make_app(events)
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(RequestsTable)
        await wait_for(pilot, lambda: app.aggregator.events == 10_000 and table.row_count == 200)
        assert column(table, "user")[0] == "u49"


async def test_the_users_panel_shows_the_heaviest_users_and_the_filter_finds_the_rest(make_app):
    """Thousands of users would be rebuilt every tick on the event loop: the panel keeps the nearest
    to their limit (here, without limits, the heaviest) and says so in its title."""
    events = [event(i, ts=NOW - 600 + i * 0.1, user=f"u{i:03d}", prompt=i + 1, completion=0) for i in range(300)]
    app = make_app(events)
    async with app.run_test(size=(160, 48)) as pilot:
        users = app.query_one(UsersTable)
        await wait_for(pilot, lambda: users.row_count == UsersTable.MAX_ROWS)
        assert set(users.rows) == {f"u{i:03d}" for i in range(100, 300)} and users.hidden == 100
        assert "nearest 200 of 300" in str(app.query_one("#panel-users").border_title)
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.screen, FilterScreen))
        app.screen.query_one(Input).value = "user:u007"
        await pilot.press("enter")
        await wait_for(pilot, lambda: users.rows == ["u007"])
        assert "nearest" not in str(app.query_one("#panel-users").border_title)


async def test_a_failing_source_shows_its_error_and_the_app_keeps_running(make_app):
    class Broken(ListSource):
        async def batches(self, follow):  # noqa: ANN001, ANN202
            yield Batch(events=[event(0, ts=NOW - 5, source="broken")])
            raise OSError("disk on fire [bold]")

    source = Broken("broken", [])
    app = make_app(sources=[source])
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: source.status.state == "error")
        await wait_for(pilot, lambda: "error" in header_text(app))
        assert "disk on fire [bold]" in header_text(app)
        assert app.query_one(RequestsTable).row_count == 1


async def test_quit_closes_sources(make_app):
    source = ListSource("gateway", [Batch(events=sample_events())])
    app = make_app(sources=[source])
    async with app.run_test() as pilot:
        await pilot.press("q")
        await asyncio.sleep(0)
    assert source.closed and not app.is_running


async def test_stale_source_shows_its_age(make_app):
    source = ListSource("ledger.db", [])
    source.status = SourceStatus("ledger.db", "sqlite", state="stale", last_read_at=NOW - 125)
    app = make_app(sources=[source])
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: "stale 2m" in header_text(app))


async def test_every_action_is_in_the_command_palette_and_tab_moves_between_panels(make_app):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        commands = [c.title for c in app.get_system_commands(app.screen)]
        for name in ("Filter (/)", "Pause (space, p)", "Window (w)", "Theme (t)", "Alerts (a)", "+Hz (+)",
                     "Users (2)", "Sort (s, >)", "Reverse (I)", "Follow (f)", "Quit (q)"):
            assert name in commands
        assert [c for c in commands if c.startswith("Theme")] == ["Theme (t)"]  # not Textual's own picker too
        assert app.focused is app.requests
        await pilot.press("tab")
        assert app.focused is not app.requests and app.active_panel != 0
        command = next(c for c in app.get_system_commands(app.screen) if c.title.startswith("Window"))
        app.call_later(command.callback)  # as the command palette runs it
        await wait_for(pilot, lambda: app.window == "24h")


async def test_theme_from_the_config_file(make_app):
    from tokentop.config import Config

    app = make_app(config=Config(display={"theme": "light"}))
    async with app.run_test():
        assert app.theme == "tokentop-light"


async def test_the_alert_rules_run_live_and_an_alert_can_be_muted(tmp_path, make_app):
    # GIVEN a log where every deepseek request arrives without usage, and an alert log path
    alert_log = tmp_path / "alerts.jsonl"
    events = [event(i, ts=NOW - 240 + i, provider="deepseek" if i % 2 else "openai",
                    model="deepseek-chat" if i % 2 else "gpt-4o", **({"token_source": "missing", "prompt": 0,
                    "completion": 0} if i % 2 else {})) for i in range(200)]
    import argparse

    args = argparse.Namespace(alert_log=str(alert_log), alert_command=None)
    app = make_app(events=events, args=args)
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one("#alerts", AlertsTable)
        # THEN the real rules raise it in the panel, and the start is appended to the alert log
        await wait_for(pilot, lambda: any(a.subject.endswith("deepseek") or "deepseek" in a.subject
                                          for a in table.alerts.values()))
        await wait_for(pilot, lambda: alert_log.exists() and b"deepseek" in alert_log.read_bytes())
        before = len(table.alerts)
        # WHEN the selected alert is muted with `x` on the alerts panel
        await pilot.press("4")
        table.focus()
        muted = table.selected_alert()
        await pilot.press("x")
        # THEN it leaves the panel and stays gone
        await wait_for(pilot, lambda: all((a.rule, a.subject) != (muted.rule, muted.subject)
                                          for a in table.alerts.values()))
        assert len(table.alerts) == before - 1


async def test_recent_requests_show_counted_sources_unless_a_filter_names_a_reference(make_app):
    # GIVEN a gateway (primary) and a ledger (reference) that record the same two requests
    gateway = ListSource("gateway", [Batch(events=[event(i, ts=NOW - 30 + i) for i in range(2)])])
    ledger = ListSource("ledger", [Batch(events=[event(i, ts=NOW - 30 + i, source="ledger") for i in range(2)])],
                        role="reference")
    app = make_app(sources=[gateway, ledger])
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(RequestsTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        await pilot.pause(0.6)  # a few more ticks: the ledger's rows must not join them
        # THEN each request shows once, from the source that counts
        assert set(column(table, "source")) == {"gateway"}
        # WHEN the filter names the reference source, THEN its rows are there to compare
        await pilot.press("slash")
        await pilot.press(*"source:ledger", "enter")
        await wait_for(pilot, lambda: table.row_count == 2 and set(column(table, "source")) == {"ledger"})


@pytest.mark.parametrize("width, dropped", [(200, set()), (130, {"reasoning", "cached", "latency", "completion"})])
async def test_the_requests_table_drops_optional_columns_to_fit_rather_than_hide_them_off_screen(
        make_app, width, dropped):
    app = make_app()
    async with app.run_test(size=(width, 40)) as pilot:
        await wait_for(pilot, lambda: app.requests.row_count == 12)
        shown = app.requests.column_keys()
        assert set(c.key for c in app.requests.COLUMNS) - set(shown) == dropped
        assert "cost" in shown and "provider" in shown
        header = "".join(s.text for s in app.requests.render_line(0))
        assert header.rstrip().endswith("Cost")  # the last column is on screen, not scrolled off
        for table in (app.requests, app.users, app.providers, app.alerts):  # nothing to scroll sideways to
            assert table.virtual_size.width <= table.scrollable_content_region.width, (table.id, width)
