"""A pure sparkline renderer: a series of numbers as a row of block characters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

BLOCKS: Final = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[int | float], width: int) -> str:
    """The last ``width`` values scaled to the largest of them; zero is a space, any positive value at
    least the lowest block so a trickle is never invisible. Shorter series are padded on the left."""
    if width <= 0:
        return ""
    tail = list(values[-width:])
    peak = max(tail, default=0)
    top = len(BLOCKS) - 1
    out = [" " if value <= 0 else BLOCKS[min(top, int(value / peak * len(BLOCKS)))] for value in tail]
    return " " * (width - len(out)) + "".join(out)
