"""Simulated time: ``start + speed * elapsed``, so ``--speed N`` runs the demo N times faster."""

from __future__ import annotations

import time
from collections.abc import Callable


class SimClock:
    """A clock for the demo: UTC epoch seconds of simulated time, read as ``clock()``.

    ``wall`` is the real clock it is driven by (monotonic by default; tests pass their own).
    """

    def __init__(self, start: float, speed: float = 1.0, wall: Callable[[], float] = time.monotonic) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, not {speed!r}")
        self.start = start
        self.speed = speed
        self._wall = wall
        self._wall_start = wall()

    def __call__(self) -> float:
        return self.start + self.speed * (self._wall() - self._wall_start)

    def offset(self) -> float:
        """Simulated seconds since the demo started."""
        return self() - self.start

    def wall_seconds(self, simulated: float) -> float:
        """Real seconds that ``simulated`` seconds take at this speed."""
        return simulated / self.speed
