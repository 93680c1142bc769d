"""What the user's keys do (the keymap's actions), and the command palette built from the keymap.

A mixin of ``TokentopApp``: it uses the app's panels, snapshot and view state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from tokentop.ui import keymap, theming
from tokentop.ui.layout import PANELS
from tokentop.ui.screens.alerts import AlertHistoryScreen
from tokentop.ui.screens.detail import AlertDetailScreen, GroupDetailScreen, RequestDetailScreen
from tokentop.ui.screens.filter import FilterScreen
from tokentop.ui.screens.help import HelpScreen
from tokentop.ui.screens.main import MainScreen
from tokentop.ui.view import Filter
from tokentop.ui.widgets.alerts import AlertsTable
from tokentop.ui.widgets.providers import ProvidersTable
from tokentop.ui.widgets.requests import RequestsTable
from tokentop.ui.widgets.table import KeyedTable
from tokentop.ui.widgets.users import UsersTable

WINDOWS = ("5m", "1h", "24h", "period")
REFRESH_STEPS = (1.0, 2.0, 3.0, 4.0)
PANEL_TABLES = {"requests": RequestsTable, "alerts": AlertsTable}
"""Tables whose own keymap scope adds keys to the ``table`` scope's."""


def clamp_refresh(hz: float | None) -> float:
    return 2.0 if hz is None else min(max(float(hz), REFRESH_STEPS[0]), REFRESH_STEPS[-1])


class Actions:
    """The user's actions on the main screen (see ``tokentop.ui.keymap`` for their keys)."""

    panels: dict[str, Any]
    requests: RequestsTable
    providers: ProvidersTable
    key_overrides: dict[str, str]
    active_panel: int
    paused: bool
    refresh_hz: float
    window: str
    filter: Filter
    theme: str
    theme_names: list[str]
    snapshot: Any
    shown: Any
    push_screen: Any
    notify: Any
    run_action: Any
    get_key_display: Callable[[Binding], str]
    screen: Screen[Any]
    focused: Any
    _show_panels: Callable[[Any], None]
    _show_header: Callable[[Any], None]
    _show_tabs: Callable[[], None]
    _set_refresh: Callable[[float], None]
    _refresh_now: Callable[[], None]
    view: Callable[[float], Any]

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused and self.snapshot is not None:
            self._show_panels(self.snapshot)
        if self.snapshot is not None:
            self._show_header(self.snapshot)

    def action_faster(self) -> None:
        self._set_refresh(self.refresh_hz + 1)

    def action_slower(self) -> None:
        self._set_refresh(self.refresh_hz - 1)

    def action_cycle_window(self) -> None:
        self.window = WINDOWS[(WINDOWS.index(self.window) + 1) % len(WINDOWS)]
        self._refresh_now()

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

    # -- panels -----------------------------------------------------------------------------------

    def action_panel(self, index: int) -> None:
        panel_id, _, _ = PANELS[index]
        # Now, not after this message (Widget.focus defers): "2" then "d" typed at once must open the
        # users panel's detail, not the previous panel's.
        self.screen.set_focus(self.panels[panel_id].query_one(KeyedTable))
        self._activate_panel(index)

    def action_next_panel(self) -> None:
        self.action_panel((self.active_panel + 1) % len(PANELS))

    def action_previous_panel(self) -> None:
        self.action_panel((self.active_panel - 1) % len(PANELS))

    def _activate_panel(self, index: int) -> None:
        self.active_panel = index
        for i, (panel_id, _, _) in enumerate(PANELS):
            self.panels[panel_id].set_class(i == index, "-active")
        self._show_tabs()

    def on_descendant_focus(self, event: Any) -> None:
        for index, (_, table_id, _) in enumerate(PANELS):
            if event.widget.id == table_id and index != self.active_panel:
                self._activate_panel(index)

    # -- detail views -----------------------------------------------------------------------------

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

    # -- the command palette ----------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The keymap's actions that work on ``screen``, named as in the footer and the help screen,
        with their keys: one entry each (no "Theme" picker for Textual's own themes, which tokentop
        does not ship)."""
        effective = keymap.effective_keys(self.key_overrides)
        focused = screen.focused
        for spec in keymap.KEYS:
            if not spec.palette:
                continue
            if spec.scope == "main" and isinstance(screen, MainScreen):
                run = partial(self.run_action, spec.action)
            elif spec.scope in ("table", *PANEL_TABLES) and isinstance(
                    focused, PANEL_TABLES.get(spec.scope, KeyedTable)):
                run = partial(focused.run_action, spec.action)
            else:
                continue
            keys = ", ".join(self.get_key_display(Binding(key, "")) for key in effective[spec.id])
            yield SystemCommand(f"{spec.label} ({keys})", spec.help, run)
