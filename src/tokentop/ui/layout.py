"""The main screen's layout: its panels, the key bindings, and the titles and tab strip drawn on it."""

from __future__ import annotations

from typing import Final

from textual.binding import Binding
from textual.content import Content

from tokentop.core.snapshot import Snapshot

COMPACT_WIDTH, COMPACT_HEIGHT = 120, 32
"""Below either, the panels collapse to one at a time (digits / Tab switch); below the width, tables
show their narrow column sets."""
PANELS: Final = (("panel-requests", "requests", "Recent requests"), ("panel-users", "users", "Users"),
                 ("panel-providers", "providers", "Providers"), ("panel-alerts", "alerts", "Alerts"))
"""(panel id, table id, title) in digit order."""
GRID_ORDER: Final = ("panel-requests", "panel-users", "panel-alerts", "panel-providers")
"""Placement in the wide grid: requests on top, users beside alerts, providers across the bottom."""

APP_BINDINGS: Final = [
    Binding("q", "quit", "Quit", tooltip="Quit tokentop"),
    Binding("question_mark", "help", "Help", key_display="?", tooltip="Keys, panels and markers"),
    Binding("slash", "filter", "Filter", key_display="/", tooltip="Filter by user, provider, model, platform, source"),
    Binding("space,p", "pause", "Pause", key_display="space", tooltip="Freeze the display (input continues)"),
    Binding("plus", "faster", "+Hz", key_display="+", tooltip="Refresh faster (up to 4 Hz)"),
    Binding("minus", "slower", "-Hz", key_display="-", tooltip="Refresh slower (down to 1 Hz)"),
    Binding("w", "cycle_window", "Window", tooltip="Cycle the window: 5m, 1h, 24h, billing period"),
    Binding("t", "cycle_theme", "Theme", tooltip="Cycle the colour theme"),
    Binding("a", "alert_history", "Alerts", tooltip="Active and resolved alerts"),
    Binding("d", "detail", "Detail", tooltip="Details of the selected row (also Enter)"),
    Binding("m", "toggle_models", "Prov/model", tooltip="Providers panel: by provider or by model"),
    *(Binding(str(n), f"panel({n - 1})", title, show=False, tooltip=f"Go to the {title.lower()} panel")
      for n, (_, _, title) in enumerate(PANELS, start=1)),
]
EXTRA_HELP: Final = [
    Binding("tab", "focus_next", "Next panel", key_display="Tab", tooltip="Next panel (Shift+Tab: previous)"),
    Binding("ctrl+p", "command_palette", "Commands", key_display="^p", tooltip="The command palette"),
]
"""Keys Textual provides that the help screen lists too."""


def tab_strip(active: int, active_alerts: int) -> Content:
    """`` 1 Recent requests  2 Users  3 Providers  4 Alerts (2!) `` with the active panel reversed."""
    strip = Content("")
    for index, (panel_id, _, title) in enumerate(PANELS):
        count = f" ({active_alerts}!)" if panel_id == "panel-alerts" and active_alerts else ""
        label = Content(f" {index + 1} {title}{count} ")
        strip += label.stylize("reverse bold") if index == active else label
    return strip


def panel_titles(snap: Snapshot, following: bool, missed: int, missed_more: bool, dimension: str,
                 users_shown: int = 0, users_hidden: int = 0) -> dict[str, Content]:
    requests = Content("Recent requests")
    if not following:
        more = "+" if missed_more else ""
        requests += Content(f" · {missed}{more} new (f: follow)").stylize("bold reverse")
    alerts = f"Alerts ({len(snap.alerts)} active, {len(snap.resolved_alerts)} resolved: a)"
    folded = snap.key_cap.get("folded", {})

    def note(group: str) -> str:  # names the key cap folded into (other) (docs/reliability.md)
        return f" · {folded[group]:,} folded into (other)" if folded.get(group) else ""

    return {
        "panel-requests": requests,
        "panel-users": Content("Users · plan period" + (
            f" · nearest {users_shown} of {users_shown + users_hidden} (/ user:NAME finds the others)"
            if users_hidden else "") + note("user")),
        "panel-providers": Content(f"By {dimension} · window {snap.window} (m: switch)" + note(dimension)),
        "panel-alerts": Content(alerts),
    }
