"""The users panel: each user's usage this period against their plan limit, as a gauge."""

from __future__ import annotations

from collections.abc import Mapping

from tokentop.core.plans import Standing
from tokentop.ui.theming import Palette
from tokentop.ui.view import ViewContext
from tokentop.ui.widgets import cells
from tokentop.ui.widgets.table import Column, KeyedTable, Row

GAUGE_WIDTH = 12
WARN_AT, CRITICAL_AT = 75.0, 90.0


def gauge(percent: float | None, width: int = GAUGE_WIDTH) -> str:
    """``[█████·······]``: filled share of ``width``; over 100 % the bar is full and ends in ``!``."""
    if percent is None:
        return "no limit"
    filled = max(0, min(width, round(percent / 100 * width)))
    bar = "█" * filled + "·" * (width - filled)
    return f"[{bar}]" if percent < 100 else f"[{bar[:-1]}!]"


def gauge_style(percent: float | None, palette: Palette) -> str:
    if percent is None:
        return ""
    level = "gauge-high" if percent >= CRITICAL_AT else "gauge-mid" if percent >= WARN_AT else "gauge-low"
    return str(palette[level])


class UsersTable(KeyedTable):
    COLUMNS = (
        Column("user", "User", 14, descending=False),
        Column("gauge", "Used of limit", GAUGE_WIDTH + 2),
        Column("percent", "%", 5),
        Column("used", "Used/limit", 17),
        Column("burn", "Burn/h", 8),
        Column("exhausts", "Runs out", 9, narrow=False, descending=False),
        Column("plan", "Plan", 10, narrow=False, descending=False),
    )
    DEFAULT_SORT = "percent"
    EMPTY = "no users yet"

    def show(self, standings: Mapping[str, Standing], view: ViewContext) -> None:
        rows = [self.row(user, s, view) for user, s in standings.items()
                if not view.filter or view.filter.matches_name("user", user)]
        self.sync(rows)

    @staticmethod
    def row(user: str, s: Standing, view: ViewContext) -> Row:
        percent = s.percent
        style = gauge_style(percent, view.palette)
        used = cells.compact(s.period_tokens) + (f"/{cells.compact(s.limit)}" if s.limit else "")
        # Unlimited users sort below every limited one but by their usage among themselves.
        percent_order = percent if percent is not None else -1.0 / (1 + s.period_tokens)
        exhaustion = s.projected_exhaustion(view.now)
        if exhaustion is None:
            runs_out = cells.Cell(cells.DASH, float("inf"))
        elif exhaustion <= view.now:
            runs_out = cells.Cell("over", view.now, view.palette["critical"])
        else:
            runs_out = cells.Cell("in " + cells.duration(exhaustion - view.now), exhaustion,
                                  view.palette["warning"])
        return user, (
            cells.text(user, 40),
            cells.Cell(gauge(percent), percent_order, style or view.palette["muted"]),
            cells.Cell(cells.DASH if percent is None else f"{percent:.0f}%", percent_order, style, "right"),
            cells.Cell(used, s.period_tokens, "", "right"),
            cells.number(round(s.burn_rate_per_hour)),
            runs_out,
            cells.text(s.plan, 20),
        )
