"""Table cells: literal Rich text (never markup) that also carries the raw value to sort by.

Every string that came from data passes :func:`tokentop.core.sanitize.visible` here, so a model
called ``[bold]x[/]`` or ``\\x1b]0;pwn\\x07`` shows exactly those characters.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from rich.style import Style
from rich.text import Text

from tokentop.core import numbers
from tokentop.core.numbers import DASH
from tokentop.core.sanitize import visible

TOKEN_MARKERS = {"actual": "  act", "estimated": "~ est", "missing": "∅ miss"}
"""Estimated and missing counts are marked by a symbol as well as a colour (readable without colour)."""


class Cell(Text):
    """A Text that remembers the value it shows, for sorting by that value rather than its label."""

    def __init__(self, text: str, order: Any, style: Style | str = "", justify: str | None = None) -> None:
        super().__init__(text, style=style, justify=justify, no_wrap=True, end="")  # type: ignore[arg-type]
        self.order = order
        self._signature: tuple[str, str] | None = None

    def signature(self) -> tuple[str, str]:
        """What the cell looks like: two cells with the same signature need no repaint."""
        if self._signature is None:
            self._signature = (self.plain, str(self.style))
        return self._signature


def text(value: str | None, limit: int = 40, style: Style | str = "") -> Cell:
    shown = DASH if value is None else visible(value, limit)
    return Cell(shown, "" if value is None else value.lower(), style)


def number(value: int | float | None, style: Style | str = "") -> Cell:
    return Cell(DASH if value is None else numbers.count(value), -1 if value is None else value, style, "right")


def money(value: float | None, style: Style | str = "", estimate: bool = False) -> Cell:
    """``$0.0123``; ``≈$0.0123`` when tokentop priced it rather than the record."""
    if value is None:
        return Cell(DASH, -1.0, style, "right")
    return Cell(("≈" if estimate else "") + numbers.money(value), value, style, "right")


def percent(value: float | None, style: Style | str = "") -> Cell:
    return Cell(DASH if value is None else numbers.percent(value), -1.0 if value is None else value, style, "right")


def latency(ms: float | None) -> Cell:
    if ms is None:
        return Cell(DASH, -1.0, "", "right")
    return Cell(numbers.milliseconds(ms), ms, "", "right")


def clock(ts: float, tz: tzinfo | None) -> str:
    return datetime.fromtimestamp(ts, tz).strftime("%H:%M:%S")


def when(ts: float | None, now: float, tz: tzinfo | None) -> Cell:
    """A time of day for today's events, a date and time for older ones."""
    if ts is None:
        return Cell(DASH, 0.0)
    moment = datetime.fromtimestamp(ts, tz)
    shown = moment.strftime("%H:%M:%S") if now - ts < 20 * 3600 else moment.strftime("%m-%d %H:%M")
    return Cell(shown, ts)

