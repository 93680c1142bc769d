"""The users panel: each user's usage this period against their plan limit, as a gauge."""

from __future__ import annotations

import heapq
from collections.abc import Mapping

from tokentop.core import numbers
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


def nearness(s: Standing) -> float:
    """How near a user is to their limit, for sorting: the percent used; users without a limit sort
    below every limited one, by their usage among themselves."""
    percent = s.percent
    return percent if percent is not None else -1.0 / (1 + s.period_tokens)


class UsersTable(KeyedTable):
    COLUMNS = (
        Column("user", "User", 14, descending=False),
        Column("gauge", "Used of limit", GAUGE_WIDTH + 2),
        Column("percent", "%", 5, justify="right"),
        Column("used", "Used/limit", 17, narrow=False, justify="right"),
        Column("burn", "Burn/h", 8, justify="right"),
        Column("exhausts", "Runs out", 9, narrow=False, descending=False),
        Column("plan", "Plan", 10, narrow=False, descending=False),
    )
    DEFAULT_SORT = "percent"
    DROP_ORDER = ("plan", "used", "exhausts")  # the gauge and the percentage say what Used/limit says
    EMPTY = "no users yet"
    MAX_ROWS = 200
    """Users shown at most: those nearest their limit, then the heaviest. The rows are built on the
    event loop every tick; with thousands of users that took 100-300 ms a tick (keys waited) for rows
    nobody scrolls to. A ``user:`` filter finds anyone else."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.hidden = 0
        """Users left out by MAX_ROWS at the last update."""

    def show(self, standings: Mapping[str, Standing], view: ViewContext) -> None:
        chosen = [(user, s) for user, s in standings.items()
                  if not view.filter or view.filter.matches_name("user", user)]
        self.hidden = max(0, len(chosen) - self.MAX_ROWS)
        if self.hidden:
            chosen = heapq.nlargest(self.MAX_ROWS, chosen, key=lambda item: (nearness(item[1]), item[1].period_tokens))
        self.sync([self.row(user, s, view) for user, s in chosen])

    @staticmethod
    def row(user: str, s: Standing, view: ViewContext) -> Row:
        percent = s.percent
        style = gauge_style(percent, view.palette)
        at_least = "≥" if view.partial else ""  # the period is not fully read yet: a lower bound
        used = at_least + numbers.count(s.period_tokens) + (f"/{numbers.count(s.limit)}" if s.limit else "")
        percent_order = nearness(s)
        exhaustion = s.projected_exhaustion(view.now)
        if exhaustion is None:
            runs_out = cells.Cell(cells.DASH, float("inf"))
        elif exhaustion <= view.now:
            runs_out = cells.Cell("over", view.now, view.palette["critical"])
        else:
            runs_out = cells.Cell("in " + numbers.duration(exhaustion - view.now), exhaustion,
                                  view.palette["warning"])
        return user, (
            cells.text(user, 40),
            cells.Cell(gauge(percent), percent_order, style or view.palette["muted"]),
            cells.Cell(cells.DASH if percent is None else at_least + numbers.percent(percent), percent_order, style,
                       "right"),
            cells.Cell(used, s.period_tokens, "", "right"),
            cells.number(round(s.burn_rate_per_hour)),
            runs_out,
            cells.text(s.plan, 20),
        )
