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
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual import events
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.containers import Container, Vertical
from textual.content import Content
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static

from tokentop.alerting import AlertMonitor
from tokentop.config import Config, ConfigError, SourceConfig
from tokentop.core.aggregate import Aggregator
from tokentop.core.event import UsageEvent
from tokentop.core.overlap import RequestOverlap
from tokentop.core.sanitize import visible
from tokentop.core.snapshot import Snapshot
from tokentop.ingest import counted_sources, overlap_for
from tokentop.resume import Checkpointing
from tokentop.sources.base import Batch, Source
from tokentop.ui import keymap, theming
from tokentop.ui.actions import WINDOWS, Actions, clamp_refresh
from tokentop.ui.layout import (
    COMPACT_HEIGHT, COMPACT_WIDTH, GRID_ORDER, PANEL_FRAME, PANELS, STRIP_LINES, grid_tracks, panel_titles,
    tab_strip, users_budget,
)
from tokentop.ui.live import LiveLoop
from tokentop.ui.messages import SnapshotReady
from tokentop.ui.rates import RateMeter
from tokentop.ui.screens.main import MainScreen
from tokentop.ui.theming import Palette
from tokentop.ui.view import Filter, ViewContext
from tokentop.ui.widgets.alerts import AlertsTable, AlertStrip
from tokentop.ui.widgets.footer import KeyFooter
from tokentop.ui.widgets.header import HeaderState, StatusHeader
from tokentop.ui.widgets.notice import NoticeLine
from tokentop.ui.widgets.providers import ProvidersTable
from tokentop.ui.widgets.requests import RequestsTable
from tokentop.ui.widgets.users import UsersTable

__all__ = ["WINDOWS", "TokentopApp", "clamp_refresh"]


class TokentopApp(Actions, LiveLoop, App[int]):
    CSS_PATH = Path(__file__).with_name("tokentop.tcss")  # absolute, so subclasses elsewhere keep it
    TITLE = "tokentop"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings("app")  # type: ignore[assignment]

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
        aggregator: Aggregator | None = None,
        overlap: RequestOverlap | None = None,
        checkpointing: Checkpointing | None = None,
        notices: Sequence[str] = (),
        specs: Sequence[SourceConfig | None] = (),
    ) -> None:
        super().__init__()
        self.sources = list(sources)
        self.config = config or Config()
        try:
            self.key_overrides = keymap.check_overrides(self.config.keys)
            """``[keys]``, checked: binding id -> keys (Textual's keymap, applied on mount)."""
        except ValueError as exc:
            binding_id, _, problem = str(exc).partition(": ")
            raise ConfigError(self.config.path, f"keys.{binding_id}", problem) from None
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
        self.aggregator = aggregator or Aggregator(self.config.plans, clock=self.clock,
                                                   max_keys=self.config.limits.max_keys)
        """Everything counted (resumed from a checkpoint, or empty): see tokentop.resume."""
        self.alert_monitor = AlertMonitor.from_config(
            self.config, log_path=getattr(args, "alert_log", None), command=getattr(args, "alert_command", None))
        """Rules, lifecycle and delivery (log, command); the app itself shows notices and rings the bell."""
        self.checkpointing = checkpointing
        if checkpointing is not None and checkpointing.alerts is not None:
            self.alert_monitor.engine.restore(checkpointing.alerts)
        self.start_notices = list(notices)
        """One-line notices from the start (a checkpoint refused, ...), posted once the screen is up."""
        self.specs = list(specs) or [None] * len(self.sources)
        """How each source was opened, for the ones whose history worker processes may read (None: not)."""
        self.backfilling: dict[str, tuple[int, int]] = {}
        self._unapplied: deque[Batch] = deque()
        self.ring_bell = bell or self.alert_monitor.settings.bell
        self.metrics_endpoint = None
        if getattr(args, "metrics", None):  # (prometheus_client is imported only then: ~90 ms of every start)
            from tokentop.prometheus import endpoint_for

            self.metrics_endpoint = endpoint_for(args.metrics, self.config)
        self.counted = counted_sources(self.sources)
        self.overlap = overlap if overlap is not None else overlap_for(self.sources)
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
        self.rates = RateMeter()
        self._tabs_shown: Content | None = None
        self._grid_shown: tuple[str, str] | None = None
        self._aggregator_lock = asyncio.Lock()
        """Held while a batch is applied or a snapshot is folded: one user of the aggregator at a time."""
        self._show_next = False
        """Show the next snapshot even if paused (the user asked for a different view)."""
        self.init_ticks()

    # -- layout -----------------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        # Kept as attributes: App.query_one searches only the active screen, and ticks keep coming
        # while a modal screen is on top.
        self.header = StatusHeader(id="header")
        self.tabs = Static(id="tabs")
        self.requests = RequestsTable(id="requests", max_rows=self.max_rows)
        self.users = UsersTable(id="users")
        self.providers = ProvidersTable(id="providers")
        self.alerts = AlertsTable(id="alerts")
        self.alerts.strip = AlertStrip(id="alert-strip")
        self.notices = NoticeLine(id="notices")
        contents: dict[str, tuple[Widget, ...]] = {
            "requests": (self.requests,), "users": (self.users,), "providers": (self.providers,),
            "alerts": (self.alerts, self.alerts.strip)}  # the selected alert in full, under the table
        self.panels = {panel_id: Container(*contents[table_id], id=panel_id, classes="panel")
                       for panel_id, table_id, _ in PANELS}
        yield self.header
        yield self.tabs
        with Container(id="panels") as self.panel_grid:
            for panel_id in GRID_ORDER:
                yield self.panels[panel_id]
        with Vertical(id="bottom"):  # one docked block: the notice line (when showing) over the footer
            yield self.notices
            yield KeyFooter()

    def on_mount(self) -> None:
        self._load_themes()
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        self._on_theme_changed()
        self.set_keymap(self.key_overrides)
        for panel_id, _, title in PANELS:
            self.panels[panel_id].border_title = title
        self._apply_layout(self.size.width, self.size.height)
        self.action_panel(0)
        for source, spec in zip(self.sources, self.specs):
            self.run_worker(partial(self._follow, source, spec), name=f"source {source.name}", group="sources",
                            exit_on_error=False)
        self.start_ticks()
        self.start_metrics()
        self._exit_on_hangup()
        self._start_checkpoints()

    def _exit_on_hangup(self) -> None:
        """SIGHUP (the terminal went away: a dropped SSH session), SIGTERM and SIGINT end the app the
        normal way, so the terminal driver's threads stop and callers' cleanup (the last checkpoint)
        runs. (Not under a test pilot: the handlers would outlive the test.)"""
        if self.is_headless:
            return
        loop = asyncio.get_running_loop()
        for name in ("SIGHUP", "SIGTERM", "SIGINT"):
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
        self._fit_grid()

    def _fit_grid(self) -> None:
        """Share the wide grid by need (``layout.grid_tracks``): as the rows of users, alerts and
        providers come and go, their panels grow or shrink and recent requests take the rest."""
        if self.compact:
            return
        height = self.panel_grid.size.height or max(1, self.size.height - 3)
        alerts = self.alerts.row_count + 1 + (STRIP_LINES if self.alerts.row_count else 0)
        users = self.users.fitted_width(users_budget(self.size.width) - PANEL_FRAME) + PANEL_FRAME
        tracks = grid_tracks(self.size.width, height, users,
                             max(self.users.row_count + 1, alerts) + 2, self.providers.row_count + 3)
        if tracks != self._grid_shown:
            self._grid_shown = tracks
            self.panel_grid.styles.grid_columns, self.panel_grid.styles.grid_rows = tracks

    def _show_tabs(self) -> None:
        strip = tab_strip(self.active_panel, len(self.snapshot.alerts) if self.snapshot is not None else 0)
        if strip != self._tabs_shown:
            self._tabs_shown = strip
            self.tabs.update(strip, layout=False)

    async def on_unmount(self) -> None:
        await self.save_checkpoint()  # before the sources close: they forget where they are
        await self.alert_monitor.aclose()
        await self.stop_metrics()
        for source in self.sources:
            try:
                await source.aclose()
            except Exception:  # noqa: BLE001 - closing must not hide the reason the app is exiting
                pass

    # -- notifications ----------------------------------------------------------------------------

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """On the notice line above the footer (never over a panel), not as a toast. Text is shown
        literally: callers pass it through ``visible`` already, and markup is never interpreted."""
        shown = Content.from_markup(message).plain if markup else message
        self.notices.post(shown, title, severity, self.NOTIFICATION_TIMEOUT if timeout is None else timeout)

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

    # -- showing a snapshot -----------------------------------------------------------------------

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

    def view(self, now: float, partial: bool = False) -> ViewContext:
        return ViewContext(now, self.tz, self.palette, self.filter, partial)

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
            history=snap.history,
        ))

    def _show_panels(self, snap: Snapshot) -> None:
        self.shown = snap
        view = self.view(snap.generated_at, partial=snap.history is not None)
        starting = any(s.get("status") == "starting" for s in snap.sources)
        self.requests.show(self._requests_to_show(snap.recent), view, starting)
        self.users.show(snap.standings, view)
        self.providers.show(snap.groups, snap.per_minute, view)
        self.alerts.show(snap.alerts, view)
        self._title_panels(snap)
        self._fit_grid()

    def _title_panels(self, snap: Snapshot) -> None:
        requests = self.requests
        narrowed = self.filter.terms("provider", "model")
        titles = panel_titles(snap, requests.following, requests.missed, requests.missed_more,
                              self.providers.dimension, self.users.row_count, self.users.hidden, narrowed)
        for panel_id, new in titles.items():
            panel = self.panels[panel_id]
            if panel.border_title != new.markup:  # setting a title repaints the panel
                panel.border_title = new

    def on_requests_table_follow_changed(self, message: RequestsTable.FollowChanged) -> None:
        if self.shown is not None and message.table is self.requests:
            self._title_panels(self.shown)

    # -- refresh rate -----------------------------------------------------------------------------

    def _set_refresh(self, hz: float) -> None:
        self.refresh_hz = clamp_refresh(hz)  # (the cap of busy input's ticks; the heartbeat stays 1 s)
        if self.snapshot is not None:
            self._show_header(self.snapshot)

    def _refresh_now(self) -> None:
        """Take a snapshot now and show it even if paused (the user asked for a different view)."""
        self._show_next = True
        self.tick()
