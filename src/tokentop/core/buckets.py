"""Time buckets of cells: the hours and recent minutes every event is counted in, and the spans of
time (windows) folded from them.

Every event is counted in the cells of its hour -- hour buckets are also split at billing-period
boundaries, so a bucket belongs to one period -- and, when its minute is recent, of its minute (both
families of :mod:`cells` each time). When a newer hour starts, the closed hours are merged into the
all-time cells and their period's cells once, so the all-time and period figures cost nothing per
event. An event for an hour already closed (late: a transcript backfill is nearly all late events) is
counted in its hour's cells, if still held, and in the late cells of its period, merged into the
all-time and period cells when those are next read. Hours older than the retention and all but the
last three billing periods are dropped; minutes
are kept for an hour behind the newest event (and behind the clock the aggregator is given), so every
minute still held is complete: the retention edge only moves forward.

Spans: minute resolution where the minutes reach back, hour resolution before that; a bucket
straddling the span start counts if its last event is inside (``cells_since``), or wholly
(``cells_between``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from tokentop.core.cells import KEY_FAMILY, Cells, Key
from tokentop.core.counts import Counts
from tokentop.core.event import UsageEvent
from tokentop.core.periods import Period

WINDOWS: Final = {"5m": 300, "1h": 3600, "24h": 86400}
"""Rolling windows by name, in seconds; ``period`` and ``all`` are the other windows."""
WINDOW_NAMES: Final = ("5m", "1h", "24h", "period", "all")
MINUTE_RETENTION: Final = 60
HourKey = tuple[int, float]
"""(hour since the epoch, start of the billing period the bucket belongs to)"""


class TimeBuckets:
    """The hour and minute cells, the merged all-time and period cells, and spans folded from them."""

    def __init__(self, billing_period: Period, hour_retention: int) -> None:
        self.billing_period = billing_period
        self.hour_retention = hour_retention
        self.total = Cells()
        """All-time cells of the closed hours (the open hours are added when asked)."""
        self.periods: dict[float, Cells] = {}
        """Cells of the closed hours of each billing period, by period start."""
        self.hours: dict[HourKey, Cells] = {}
        self.minutes: dict[int, Cells] = {}
        self.minute_floor: float = float("-inf")
        """Minutes from this one on are complete in ``minutes`` (none before it is kept)."""
        self._high_hour = -(2**62)
        self.late: dict[float, Cells] = {}
        """Events of closed hours not yet merged into ``total`` and ``periods``, by billing period
        start: merged when those are read (see :meth:`_merge_late`)."""
        self._hour: tuple[Cells, float, float] = (Cells(), 0.0, 0.0)
        """The bucket of the last event, with the times it covers (saves a lookup per event)."""
        self._bill = (0.0, 0.0)

    def uncount(self, e: UsageEvent, keys: tuple[Key, Key] | None = None) -> None:
        """Take an event back out of every cell it was counted in (under ``keys``, if not its own)."""
        start = self._period_start(e.ts)
        bucket = self.hours.get((int(e.ts // 3600), start))
        if bucket is not None:
            bucket.remove(e, keys)
        if bucket is None or bucket.folded:
            self._merge_late()
            for cells in (self.total, self.periods.setdefault(start, Cells())):
                cells.remove(e, keys)
        minute = self.minutes.get(int(e.ts // 60))
        if minute is not None:
            minute.remove(e, keys)

    def _period_start(self, ts: float) -> float:
        """The start of the billing period holding ``ts`` (the last period looked up is remembered:
        a backfill of shuffled times -- Claude Code transcripts -- asks for it per event)."""
        if not self._bill[0] <= ts < self._bill[1]:
            self._bill = self.billing_period.bounds(ts)
        return self._bill[0]

    def _hour_bucket(self, ts: float) -> tuple[Cells, float, float]:
        """The cells an event at ``ts`` is counted in, and the times they cover. An hour past the
        retention has no cells of its own: its events go straight to the late cells."""
        start = self._period_start(ts)
        end = self._bill[1]
        hour = int(ts // 3600)
        key = (hour, start)
        bucket = self.hours.get(key)
        if bucket is None:
            if hour > self._high_hour:
                self._close_hours(hour)
            elif hour < self._high_hour - self.hour_retention:
                bucket = self._late_cells(start)
            if bucket is None:
                bucket = self.hours[key] = Cells()
                bucket.folded = hour < self._high_hour  # an hour already closed: its events are late
        return bucket, max(hour * 3600.0, start), min(hour * 3600.0 + 3600.0, end)

    def _close_hours(self, hour: int) -> None:
        """Hours before ``hour`` are closed: merge them into the all-time and period cells (once) and
        drop those past the retention."""
        self._high_hour = hour
        for key, bucket in list(self.hours.items()):
            if key[0] < hour and not bucket.folded:
                self.total.merge(bucket)
                self.periods.setdefault(key[1], Cells()).merge(bucket)
                bucket.folded = True
            if key[0] < hour - self.hour_retention:
                del self.hours[key]
        self._keep_periods()

    def _keep_periods(self) -> None:
        for start in sorted(self.periods)[:-3]:
            del self.periods[start]

    def _late_cells(self, period_start: float) -> Cells:
        cells = self.late.get(period_start)
        if cells is None:
            cells = self.late[period_start] = Cells()
        return cells

    def _count_closed(self, e: UsageEvent, at: float, keys: tuple[Key, Key] | None = None) -> None:
        """A late event (of an hour already merged): counted once more, in the late cells (under
        ``keys``, if not its own)."""
        self._late_cells(self._period_start(at)).add(e, keys)

    def _merge_late(self) -> None:
        """Merge the late events into the all-time and period cells: once per read of those rather
        than twice per event (a shuffled backfill is nearly all late events)."""
        if self.late:
            for start, cells in self.late.items():
                self.total.merge(cells)
                self.periods.setdefault(start, Cells()).merge(cells)
            self.late.clear()
            self._keep_periods()
            self._hour = (Cells(), 0.0, 0.0)  # it may be late cells just merged

    def every_cells(self) -> Iterator[Cells]:
        """Every Cells held (the current hour's possibly twice), for rewriting keys in place."""
        yield self.total
        yield from self.periods.values()
        yield from self.hours.values()
        yield from self.minutes.values()
        yield from self.late.values()
        yield self._hour[0]

    def _new_minute(self, minute: int) -> Cells:
        self._raise_floor(minute - MINUTE_RETENTION)
        cells = self.minutes[minute] = Cells()
        return cells

    def _raise_floor(self, floor: int) -> None:
        if floor > self.minute_floor:
            self.minute_floor = floor
            for minute in [m for m in self.minutes if m < floor]:
                del self.minutes[minute]

    def advance(self, now: float) -> None:
        """Drop the minutes that have aged out as of ``now`` (also done as events arrive). Hours close
        only as newer events arrive: closing them on the clock would make every event of a backfill
        that the app is still reading a late one."""
        self._raise_floor(int(now // 60) - MINUTE_RETENTION)

    def all_cells(self, family: str = KEY_FAMILY) -> Iterator[tuple[Key, Counts]]:
        self._merge_late()
        yield from self.total.family(family).items()
        for bucket in self.hours.values():
            if not bucket.folded:
                yield from bucket.family(family).items()

    def period_cells(self, start: float, family: str = KEY_FAMILY) -> Iterator[tuple[Key, Counts]]:
        """Cells of the billing period starting at ``start``."""
        self._merge_late()
        if start in self.periods:
            yield from self.periods[start].family(family).items()
        for (_, period), bucket in self.hours.items():
            if period == start and not bucket.folded:
                yield from bucket.family(family).items()

    def _split_minute(self) -> float:
        """The first minute read from minute cells when a span reaches back before the minutes: the
        first whole hour they cover (the hour before comes from its hour cells)."""
        floor = self.minute_floor
        return floor if floor == float("-inf") else -(-int(floor) // 60) * 60

    def cells_since(self, start: float, family: str = KEY_FAMILY, minutes_only: bool = False
                    ) -> Iterator[tuple[Key, Counts]]:
        """Cells from ``start`` on (events later than the query time are kept: a writer's clock may
        run a little ahead). A cell straddling ``start`` counts if its last event is at or after it."""
        first_minute = int(start // 60)
        split = self.minute_floor if minutes_only or first_minute >= self.minute_floor else self._split_minute()
        for minute, cells in self.minutes.items():
            if minute > first_minute and minute >= split:
                yield from cells.family(family).items()
            elif minute == first_minute and minute >= split:
                yield from ((k, c) for k, c in cells.family(family).items() if c.last_ts >= start)
        if minutes_only or first_minute >= self.minute_floor:
            return
        for (hour, _), cells in self.hours.items():
            if hour * 60 < split and (hour + 1) * 3600 > start:
                yield from ((k, c) for k, c in cells.family(family).items() if c.last_ts >= start)

    def cells_between(self, start: float, end: float, family: str = KEY_FAMILY) -> Iterator[tuple[Key, Counts]]:
        """Cells of the minutes (and, before the minutes, hours) overlapping ``[start, end]``: a span
        includes the whole bucket its edges fall in."""
        first, last = int(start // 60), int(end // 60)
        split = self.minute_floor if first >= self.minute_floor else self._split_minute()
        for minute, cells in self.minutes.items():
            if first <= minute <= last and minute >= split:
                yield from cells.family(family).items()
        if first >= self.minute_floor:
            return
        for (hour, _), cells in self.hours.items():
            if first // 60 <= hour <= last // 60 and hour * 60 < split:
                yield from cells.family(family).items()

    def minute_cells(self, first: int, last: int, family: str = KEY_FAMILY) -> Iterator[tuple[int, Key, Counts]]:
        """(minute, key, counts) of the minutes ``first`` to ``last`` still held."""
        for minute, cells in self.minutes.items():
            if first <= minute <= last:
                for key, counts in cells.family(family).items():
                    yield minute, key, counts

    def timeline(self, family: str = KEY_FAMILY) -> Iterator[dict[Key, Counts]]:
        """Every bucket held, oldest first, each span once: hours, then minutes once they begin."""
        split = self._split_minute()
        for key in sorted(k for k in self.hours if k[0] * 60 < split):
            yield self.hours[key].family(family)
        for minute in sorted(m for m in self.minutes if m >= split):
            yield self.minutes[minute].family(family)

    def window_cells(self, window: str, now: float, family: str = KEY_FAMILY) -> Iterator[tuple[Key, Counts]]:
        """The cells that make up a window (``5m``, ``1h``, ``24h``, ``period`` or ``all``)."""
        if window == "all":
            return self.all_cells(family)
        if window == "period":
            return self.period_cells(self.billing_period.bounds(now)[0], family)
        self.advance(now)
        return self.cells_since(now - WINDOWS[window], family)
