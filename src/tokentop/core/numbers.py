"""How numbers read, everywhere tokentop shows one: tables, alert messages, detail views, the header.

One module so a count, a span of time or a price reads the same in the users panel, in the message of
the alert about that user and in its notification ("337,488 tokens", never "337488 tokens" next to a
table saying "337,488"). Pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Final

DASH: Final = "—"
"""A value that is not known."""


def count(value: int | float, exact: bool = False) -> str:
    """A count as people read it at a glance: ``999``, ``12,345``, ``1.23M``, ``4.50G``; with
    ``exact``, every digit (``1,234,567``: detail views, where the figure is read, not glanced at).
    A fractional value keeps one decimal (``2.5``)."""
    magnitude = abs(value)
    if not exact:
        if magnitude >= 1e9:
            return f"{value / 1e9:.2f}G"
        if magnitude >= 1e6:
            return f"{value / 1e6:.2f}M"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def tokens(value: int | float) -> str:
    """``1 token``, ``337,488 tokens``, ``7.92M tokens``."""
    return f"{count(value)} token" + ("" if value == 1 else "s")


def requests(value: int) -> str:
    """``1 request``, ``1,045 requests``."""
    return f"{count(value)} request" + ("" if value == 1 else "s")


def rate(value: float, per: str) -> str:
    """A rate rounded to what a person compares: ``7.92M tokens/h``, ``42,551 tokens/min``, ``2.5/s``."""
    shown = count(round(value)) if abs(value) >= 10 else count(round(value, 1))
    return f"{shown}{per}"


def duration(seconds: float) -> str:
    """A span of time, precise to its two largest units: ``0.4s``, ``45s``, ``2m39s``, ``3h05m``,
    ``4d02h`` (never rounded up: 159 s is ``2m39s``, not "3 min")."""
    if seconds < 0:
        seconds = 0.0
    if 0 < seconds < 0.05:
        return "<0.1s"
    if seconds < 9.95 and not float(seconds).is_integer():
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes}m{rest:02d}s" if rest else f"{minutes}m"
    if whole < 86400:
        hours, rest = divmod(whole, 3600)
        return f"{hours}h{rest // 60:02d}m"
    days, rest = divmod(whole, 86400)
    return f"{days}d{rest // 3600:02d}h"


def percent(value: float) -> str:
    """A percentage (of 100): ``64%``; under 1 but not zero, ``<1%`` (a share that exists must not read 0%)."""
    if 0 < value < 0.5:
        return "<1%"
    return f"{value:.0f}%"


def share(ratio: float) -> str:
    """A ratio (of 1) as a percentage: ``0.22`` is ``22%``."""
    return percent(100.0 * ratio)


def money(value: float) -> str:
    """``$0.0123`` for small amounts (what a single request costs), ``$1,234.56`` from $100."""
    return f"${value:,.2f}" if abs(value) >= 100 else f"${value:.4f}"


def milliseconds(ms: float) -> str:
    """A latency: ``835ms``, ``15.6s`` from ten seconds."""
    return f"{ms:.0f}ms" if ms < 10_000 else f"{ms / 1000:.1f}s"
