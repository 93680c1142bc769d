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
    out = []
    for value in tail:
        if value <= 0 or peak <= 0:
            out.append(" ")
        else:
            index = min(len(BLOCKS) - 1, int(value / peak * len(BLOCKS)))
            out.append(BLOCKS[max(index, 0)] if index > 0 else BLOCKS[0])
    return " " * (width - len(out)) + "".join(out)
