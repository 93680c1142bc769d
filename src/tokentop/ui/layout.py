"""The main screen's layout: its panels, how the wide grid shares the screen between them, and the
titles and tab strip drawn on it."""

from __future__ import annotations

from typing import Final

from textual.content import Content

from tokentop.core.snapshot import Snapshot

COMPACT_WIDTH, COMPACT_HEIGHT = 120, 32
"""Below either, the panels collapse to one at a time (digits / Tab switch); below the width, tables
show their narrow column sets."""
PANELS: Final = (("panel-requests", "requests", "Recent requests"), ("panel-users", "users", "Users"),
                 ("panel-providers", "providers", "Providers"), ("panel-alerts", "alerts", "Alerts"))
"""(panel id, table id, title) in digit order (also the Tab order)."""
GRID_ORDER: Final = ("panel-requests", "panel-users", "panel-alerts", "panel-providers")
"""Placement in the wide grid: requests on top, users beside alerts, providers across the bottom."""
ALERTS_WIDTH: Final = 70
"""The Alerts panel's share of a wide screen, at least (the users panel gets the rest it needs)."""
PANEL_FRAME: Final = 2
"""Columns a panel's border takes (one each side)."""
STRIP_LINES: Final = 5
"""Lines the selected alert's strip is expected to take (a rule, then a message of two to three lines)."""


def users_budget(width: int) -> int:
    """The most the users panel may take of a wide screen: half of it, or all but ``ALERTS_WIDTH``."""
    return max(20, max(width // 2, width - ALERTS_WIDTH))


def grid_tracks(width: int, height: int, users_width: int, middle_rows: int, bottom_rows: int) -> tuple[str, str]:
    """``grid-columns`` and ``grid-rows`` of the wide layout, shared by need.

    The users panel is as wide as the columns it can show within ``users_budget`` need
    (``users_width``); the alerts panel, whose messages are the most important text on the screen,
    takes the rest. The middle and bottom rows are as tall as their rows need, within bounds, and
    the stream of recent requests takes whatever height is left.
    """
    users = max(20, min(users_width, users_budget(width)))
    middle = max(7, min(middle_rows, int(height * 0.45)))
    bottom = max(5, min(bottom_rows, int(height * 0.25)))
    return f"{users} 1fr", f"1fr {middle} {bottom}"


def tab_strip(active: int, active_alerts: int) -> Content:
    """`` 1 Recent requests  2 Users  3 Providers  4 Alerts (2!) `` with the active panel reversed."""
    strip = Content("")
    for index, (panel_id, _, title) in enumerate(PANELS):
        count = f" ({active_alerts}!)" if panel_id == "panel-alerts" and active_alerts else ""
        label = Content(f" {index + 1} {title}{count} ")
        strip += label.stylize("reverse bold") if index == active else label
    return strip


def panel_titles(snap: Snapshot, following: bool, missed: int, missed_more: bool, dimension: str,
                 users_shown: int = 0, users_hidden: int = 0, narrowed: str = "") -> dict[str, Content]:
    requests = Content("Recent requests")
    if not following:
        more = "+" if missed_more else ""
        requests += Content(f" · {missed}{more} new (f: follow)").stylize("bold reverse")
    alerts = f"Alerts ({len(snap.alerts)} active, {len(snap.resolved_alerts)} resolved: a)"
    folded = snap.key_cap.get("folded", {})

    def note(group: str) -> str:  # names the key cap folded into (other) (docs/reliability.md)
        return f" · {folded[group]:,} folded into (other)" if folded.get(group) else ""

    providers = f"By {dimension} · window {snap.window}" + (f" · {narrowed}" if narrowed else "") + " (m: switch)"
    return {
        "panel-requests": requests,
        "panel-users": Content("Users · plan period" + (
            f" · nearest {users_shown} of {users_shown + users_hidden} (/ user:NAME finds the others)"
            if users_hidden else "") + note("user")),
        "panel-providers": Content(providers + note(dimension)),
        "panel-alerts": Content(alerts),
    }
