"""Usage from counter and histogram series: cumulative points become per-series deltas.

OTLP metric points of a *cumulative* series carry the total since the series' start time. The delta
between two points of the same series is the usage in between. A series reset -- a new start time
(the process restarted) or a value that drops (a counter reset without one) -- restarts from zero:
the new point's whole value is usage since the reset, never negative usage. A point repeated with
the same time (a retried export) gives no delta.

The first point of a series tokentop has not seen before: when the series started while the receiver
was listening (``start >= listening_since``), its whole value is new usage (a Claude Code session
that began after tokentop did). When it started earlier, tokentop cannot know which part it already
saw (it was not running, or restarted), so that first point only sets the baseline: usage before it
is not counted, and nothing is counted twice. *Delta* points are usage as they are; a point with
the same series, start and time as the last one is a retry and is dropped.

Memory is bounded: the last point of the ``window`` most recently seen series is kept.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Final, NamedTuple

from tokentop.core.formats.recent import RecentMap

DEFAULT_WINDOW: Final = 100_000


class Last(NamedTuple):
    start_ns: int
    time_ns: int
    value: float
    count: int


class Delta(NamedTuple):
    value: float
    count: int
    reset: bool


class SeriesDeltas:
    """Per-series state of one source (one receiver)."""

    __slots__ = ("listening_since_ns", "_last", "baselines", "resets", "repeats")

    def __init__(self, listening_since_ns: int, window: int = DEFAULT_WINDOW) -> None:
        self.listening_since_ns = listening_since_ns
        self._last: RecentMap[Last] = RecentMap(window)
        self.baselines = 0
        """First points of series older than the receiver: baselines, not usage."""
        self.resets = 0
        self.repeats = 0
        """Points seen before (retried exports): no usage."""

    def delta(self, series: Hashable, start_ns: int, time_ns: int, value: float, count: int, cumulative: bool
              ) -> Delta | None:
        """The usage this point adds (None: none -- a baseline, a repeat, an out-of-order point)."""
        last = self._last.get(series)
        if last is not None and start_ns == last.start_ns and time_ns <= last.time_ns:
            self.repeats += 1
            return None  # a retried export (or an older point arriving late)
        self._last[series] = Last(start_ns, time_ns, value, count)
        if not cumulative:
            return Delta(value, count, False)
        if last is None:
            if start_ns > 0 and start_ns >= self.listening_since_ns:
                return Delta(value, count, False)  # the series began while we listened: all of it is new
            self.baselines += 1
            return None
        if start_ns != last.start_ns or value < last.value or count < last.count:
            if start_ns < last.start_ns and start_ns != 0:
                self._last[series] = last  # a point of the series' previous life, late: keep the newer state
                self.repeats += 1
                return None
            self.resets += 1
            return Delta(value, count, True)
        if value == last.value and count == last.count:
            return None
        return Delta(value - last.value, count - last.count, False)
