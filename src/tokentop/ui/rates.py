"""Events per second of each source, measured over the last few seconds of ticks."""

from __future__ import annotations

from collections import deque
from typing import Final

RATE_SPAN: Final = 5.0
"""Seconds over which a rate is measured."""


class RateMeter:
    """Keeps (time, event count) samples per source; the rate is the slope over ``span`` seconds."""

    def __init__(self, span: float = RATE_SPAN) -> None:
        self.span = span
        self._samples: dict[str, deque[tuple[float, int]]] = {}

    def sample(self, name: str, now: float, events: int) -> None:
        samples = self._samples.setdefault(name, deque())
        samples.append((now, events))
        while len(samples) > 2 and now - samples[1][0] >= self.span:
            samples.popleft()

    def rate(self, name: str) -> float:
        samples = self._samples.get(name)
        if not samples or len(samples) < 2:
            return 0.0
        (t0, n0), (t1, n1) = samples[0], samples[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
