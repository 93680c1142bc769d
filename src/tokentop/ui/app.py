"""The live monitor: sources feed one Aggregator; a throttled tick turns it into a Snapshot; panels
repaint once per tick from that Snapshot.

The live loop (sources in workers, the tick, the fold in a thread, alert announcements) is
:mod:`tokentop.ui.live`. Here: layout, themes, showing a snapshot -- the ``SnapshotReady`` handler
updates the header always and the panels unless paused, inside one ``batch_update`` -- and the
user's actions.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from functools import partial
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import ClassVar, Final

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Container
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import Footer, Static

from tokentop.alerting import AlertMonitor
from tokentop.prometheus import endpoint_for
from tokentop.config import Config
from tokentop.core.aggregate import Aggregator
from tokentop.core.event import UsageEvent
from tokentop.core.sanitize import visible
from tokentop.core.snapshot import Snapshot
from tokentop.ingest import counted_sources, overlap_for
from tokentop.sources.base import Source
from tokentop.ui import theming
from tokentop.ui.live import HEARTBEAT, LiveLoop
from tokentop.ui.layout import (
    APP_BINDINGS, COMPACT_HEIGHT, COMPACT_WIDTH, EXTRA_HELP, GRID_ORDER, PANELS, panel_titles, tab_strip,
)
from tokentop.ui.messages import SnapshotReady
from tokentop.ui.rates import RateMeter
from tokentop.ui.screens.alerts import AlertHistoryScreen
from tokentop.ui.screens.detail import AlertDetailScreen, GroupDetailScreen, RequestDetailScreen
from tokentop.ui.screens.filter import FilterScreen
from tokentop.ui.screens.help import HelpScreen
from tokentop.ui.theming import Palette
from tokentop.ui.view import Filter, ViewContext
from tokentop.ui.widgets.alerts import AlertsTable
from tokentop.ui.widgets.header import HeaderState, StatusHeader
from tokentop.ui.widgets.providers import ProvidersTable
from tokentop.ui.widgets.requests import RequestsTable
from tokentop.ui.widgets.table import KeyedTable
from tokentop.ui.widgets.users import UsersTable

WINDOWS: Final = ("5m", "1h", "24h", "period")
REFRESH_STEPS: Final = (1.0, 2.0, 3.0, 4.0)


def clamp_refresh(hz: float | None) -> float:
    return 2.0 if hz is None else min(max(float(hz), REFRESH_STEPS[0]), REFRESH_STEPS[-1])


class TokentopApp(LiveLoop, App[int]):
    CSS_PATH = Path(__file__).with_name("tokentop.tcss")  # absolute, so subclasses elsewhere keep it
    TITLE = "tokentop"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS: ClassVar[list[Binding]] = APP_BINDINGS  # type: ignore[assignment]
    HELP_BINDINGS: ClassVar[list[Binding]] = [*APP_BINDINGS, *KeyedTable.BINDINGS, *RequestsTable.BINDINGS,
                                              *EXTRA_HELP]

    def __init__(
        self,
        sources: Sequence[Source],
        config: Config | None = None,
        *,
        title: str = "tokentop",
        theme: str | None = None,
        window: str | None = None,
        refresh_hz: float | None = None,
        bell: bool = False,
        clock: Callable[[], float] = time.time,
        tz: tzinfo | None = None,
        user_theme_dir: Path | None = None,
        max_rows: int = 200,
        args: argparse.Namespace | None = None,
    ) -> None:
        super().__init__()
        self.sources = list(sources)
        self.config = config or Config()
        self.title = title
        self.clock = clock
        self.tz = tz or datetime.now().astimezone().tzinfo
        self.window = window if window in WINDOWS else "1h"
        self.refresh_hz = clamp_refresh(refresh_hz)
        self.requested_theme = theme
        self.user_theme_dir = user_theme_dir
        self.max_rows = max_rows
        self.args = args
        """The command line (``--alert-log``, ``--alert-command`` are for the alert dispatcher)."""
        self.aggregator = Aggregator(self.config.plans, clock=self.clock)
        self.alert_monitor = AlertMonitor.from_config(
            self.config, log_path=getattr(args, "alert_log", None), command=getattr(args, "alert_command", None))
        """Rules, lifecycle and delivery (log, command); the app itself shows toasts and rings the bell."""
        self.ring_bell = bell or self.alert_monitor.settings.bell
        self.metrics_endpoint = endpoint_for(getattr(args, "metrics", None), self.config)
        self.counted = counted_sources(self.sources)
        self.overlap = overlap_for(self.sources)
        """Requests counted once across the counted sources (None: fewer than two)."""
        self.paused = False
        self.filter = Filter()
        self.snapshot: Snapshot | None = None
        """The newest snapshot (the header always shows it)."""
        self.shown: Snapshot | None = None
        """The snapshot the panels show (older than ``snapshot`` while paused)."""
        self.palette = Palette.from_variables({})
        self.theme_names: list[str] = []
        self.compact = False
        self.active_panel = 0
        self._timer: Timer | None = None
        self.rates = RateMeter()
        self._tabs_shown: Content | None = None
        self._aggregator_lock = asyncio.Lock()
        """Held while a batch is applied or a snapshot is folded: one user of the aggregator at a time."""
        self._snapshotting = False
        self._tick_pending = False
        self._show_next = False
        """Show the next snapshot even if paused (the user asked for a different view)."""

    # -- layout -----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Kept as attributes: App.query_one searches only the active screen, and ticks keep coming
        # while a modal screen is on top.
        self.header = StatusHeader(id="header")
        self.tabs = Static(id="tabs")
        self.requests = RequestsTable(id="requests", max_rows=self.max_rows)
        self.users = UsersTable(id="users")
        self.providers = ProvidersTable(id="providers")
        self.alerts = AlertsTable(id="alerts")
        tables: dict[str, KeyedTable] = {"requests": self.requests, "users": self.users,
                                         "providers": self.providers, "alerts": self.alerts}
        self.panels = {panel_id: Container(tables[table_id], id=panel_id, classes="panel")
                       for panel_id, table_id, _ in PANELS}
        yield self.header
        yield self.tabs
        with Container(id="panels") as self.panel_grid:
            for panel_id in GRID_ORDER:
                yield self.panels[panel_id]
        yield Footer()

    def on_mount(self) -> None:
        self._load_themes()
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        self._on_theme_changed()
        for panel_id, _, title in PANELS:
            self.panels[panel_id].border_title = title
        self._apply_layout(self.size.width, self.size.height)
        self.action_panel(0)
        for source in self.sources:
            self.run_worker(partial(self._follow, source), name=f"source {source.name}", group="sources",
                            exit_on_error=False)
        self._timer = self.set_interval(HEARTBEAT, self.heartbeat)
        self.tick()
        self.start_metrics()
        self._exit_on_hangup()

    def _exit_on_hangup(self) -> None:
        """SIGHUP (the terminal went away: a dropped SSH session) and SIGTERM end the app the normal
        way, so the terminal driver's threads stop and callers' cleanup runs. (Not under a test
        pilot: the handlers would outlive the test.)"""
        if self.is_headless:
            return
        loop = asyncio.get_running_loop()
        for name in ("SIGHUP", "SIGTERM"):
            try:
                loop.add_signal_handler(getattr(signal, name), self.exit)
            except (AttributeError, NotImplementedError, RuntimeError, ValueError):
                pass  # no such signal here, or not the main thread

    def on_resize(self, event: events.Resize) -> None:
        self._apply_layout(event.size.width, event.size.height)

    def _apply_layout(self, width: int, height: int) -> None:
        self.compact = width < COMPACT_WIDTH or height < COMPACT_HEIGHT
        self.panel_grid.set_class(self.compact, "-compact")
        self.tabs.set_class(self.compact, "-compact")
        self._show_tabs()  # (each table fits its columns to its own width as it is resized)

    def _show_tabs(self) -> None:
        strip = tab_strip(self.active_panel, len(self.snapshot.alerts) if self.snapshot is not None else 0)
        if strip != self._tabs_shown:
            self._tabs_shown = strip
            self.tabs.update(strip, layout=False)

    async def on_unmount(self) -> None:
        await self.alert_monitor.aclose()
        await self.stop_metrics()
        for source in self.sources:
            try:
                await source.aclose()
            except Exception:  # noqa: BLE001 - closing must not hide the reason the app is exiting
                pass

    # -- themes -----------------------------------------------------------------------------------

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(theming.DEFAULT_VARIABLES)

    def _load_themes(self) -> None:
        loaded = theming.load_themes(user_dir=self.user_theme_dir)
        for theme in loaded.themes.values():
            self.register_theme(theme)
        self.theme_names = list(loaded.themes)
        for problem in loaded.problems:
            self.notify(f"theme not loaded: {visible(problem)}", severity="error", timeout=10, markup=False)
        configured = self.config.display.get("theme")
        wanted = theming.full_name(self.requested_theme or (configured if isinstance(configured, str) else "dark"))
        if wanted not in loaded.themes:
            self.notify(f"unknown theme {visible(theming.short_name(wanted))!r}; using dark",
                        severity="warning", timeout=10, markup=False)
            wanted = theming.DEFAULT_THEME
        self.theme = wanted

    def _on_theme_changed(self, *_: object) -> None:
        self.palette = Palette.from_variables(self.get_css_variables())
        if self.shown is not None:
            self._show_panels(self.shown)
        if self.snapshot is not None:
            self._show_header(self.snapshot)

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        if not self.header.is_mounted:
            return  # shutting down
        self.snapshot = message.snapshot
        with self.batch_update():
            self._show_header(message.snapshot)
            if self.compact:
                self._show_tabs()
            if not self.paused or self._show_next:
                self._show_next = False
                self._show_panels(message.snapshot)

    def view(self, now: float) -> ViewContext:
        return ViewContext(now, self.tz, self.palette, self.filter)

    def _requests_to_show(self, recent: Sequence[UsageEvent]) -> Sequence[UsageEvent]:
        """Requests of the sources that count (reference sources repeat them); a filter naming a
        reference source (``source:ledger``) shows its rows too."""
        if self.counted is None or any(name == "source" for name, _ in self.filter.fields):
            return recent
        return [e for e in recent if self.counted(e.source)]

    def _show_header(self, snap: Snapshot) -> None:
        self.header.show(HeaderState(
            title=self.title, window=self.window, refresh_hz=self.refresh_hz, paused=self.paused,
            filter_text=self.filter.text, now=snap.generated_at, tz=self.tz, sources=snap.sources,
            rates={s.name: self.rates.rate(s.name) for s in self.sources},
            last_read={s.name: s.status.last_read_at for s in self.sources}, palette=self.palette,
        ))

    def _show_panels(self, snap: Snapshot) -> None:
        self.shown = snap
        view = self.view(snap.generated_at)
        self.requests.show(self._requests_to_show(snap.recent), view)
        self.users.show(snap.standings, view)
        dimension = self.providers.dimension
        self.providers.show(snap.groups.get(dimension, {}), snap.per_minute.get(dimension, {}), view)
        self.alerts.show(snap.alerts, view)
        self._title_panels(snap)

    def _title_panels(self, snap: Snapshot) -> None:
        requests = self.requests
        titles = panel_titles(snap, requests.following, requests.missed, requests.missed_more,
                              self.providers.dimension, self.users.row_count, self.users.hidden)
        for panel_id, new in titles.items():
            panel = self.panels[panel_id]
            if panel.border_title != new.markup:  # setting a title repaints the panel
                panel.border_title = new

    def on_requests_table_follow_changed(self, message: RequestsTable.FollowChanged) -> None:
        if self.shown is not None and message.table is self.requests:
            self._title_panels(self.shown)

    # -- actions ----------------------------------------------------------------------------------

    MAIN_SCREEN_ACTIONS: ClassVar[frozenset[str]] = frozenset(
        {"panel", "detail", "filter", "toggle_models", "alert_history", "help"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Actions that move focus or open a screen only make sense on the main screen."""
        if action in self.MAIN_SCREEN_ACTIONS and isinstance(self.screen, ModalScreen):
            return False
        return True

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused and self.snapshot is not None:
            self._show_panels(self.snapshot)
        if self.snapshot is not None:
            self._show_header(self.snapshot)

    def _set_refresh(self, hz: float) -> None:
        self.refresh_hz = clamp_refresh(hz)  # (the cap request_tick keeps; the heartbeat stays)
        if self.snapshot is not None:
            self._show_header(self.snapshot)

    def action_faster(self) -> None:
        self._set_refresh(self.refresh_hz + 1)

    def action_slower(self) -> None:
        self._set_refresh(self.refresh_hz - 1)

    def action_cycle_window(self) -> None:
        self.window = WINDOWS[(WINDOWS.index(self.window) + 1) % len(WINDOWS)]
        self._refresh_now()

    def _refresh_now(self) -> None:
        """Take a snapshot now and show it even if paused (the user asked for a different view)."""
        self._show_next = True
        self.tick()

    def action_cycle_theme(self) -> None:
        if self.theme_names:
            index = self.theme_names.index(self.theme) if self.theme in self.theme_names else -1
            self.theme = self.theme_names[(index + 1) % len(self.theme_names)]
            self.notify(f"theme: {theming.short_name(self.theme)}", timeout=2, markup=False)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_filter(self) -> None:
        self.push_screen(FilterScreen(self.filter.text), self._set_filter)

    def _set_filter(self, text: str | None) -> None:
        if text is None:
            return
        self.filter = Filter.parse(text)
        self.requests.action_follow()  # a new filter is a new view: start from its newest request
        if self.shown is not None:
            self._show_panels(self.shown)
        if self.snapshot is not None:
            self._show_header(self.snapshot)

    def action_alert_history(self) -> None:
        snap = self.snapshot
        if snap is not None:
            self.push_screen(AlertHistoryScreen(snap.alerts, snap.resolved_alerts, self.view(snap.generated_at)))

    def action_toggle_models(self) -> None:
        self.providers.toggle_dimension()
        if self.shown is not None:
            self._show_panels(self.shown)

    def action_panel(self, index: int) -> None:
        panel_id, _, _ = PANELS[index]
        self.panels[panel_id].children[0].focus()
        self._activate_panel(index)

    def _activate_panel(self, index: int) -> None:
        self.active_panel = index
        for i, (panel_id, _, _) in enumerate(PANELS):
            self.panels[panel_id].set_class(i == index, "-active")
        self._show_tabs()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        for index, (_, table_id, _) in enumerate(PANELS):
            if event.widget.id == table_id and index != self.active_panel:
                self._activate_panel(index)

    def action_detail(self) -> None:
        focused = self.focused
        if isinstance(focused, KeyedTable):
            self._open_detail(focused)

    def on_keyed_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        self._open_detail(event.table)

    def _open_detail(self, table: KeyedTable) -> None:
        snap = self.shown
        key = table.selected_key()
        if snap is None or key is None:
            return
        if isinstance(table, RequestsTable):
            event = table.selected_event()
            if event is not None:
                self.push_screen(RequestDetailScreen(event))
        elif isinstance(table, (UsersTable, ProvidersTable)):
            dimension = "user" if isinstance(table, UsersTable) else table.dimension
            counts = snap.groups.get(dimension, {}).get(key)
            self.push_screen(GroupDetailScreen(dimension, key, counts, snap.recent, self.view(snap.generated_at)))
        elif isinstance(table, AlertsTable) and (alert := table.selected_alert()) is not None:
            self.push_screen(AlertDetailScreen(alert))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)  # includes quit
        for binding in self.BINDINGS:
            if binding.action == "quit":
                continue
            yield SystemCommand(f"{binding.description} ({binding.key_display or binding.key})",
                                binding.tooltip or binding.description,
                                partial(self.run_action, binding.action))
