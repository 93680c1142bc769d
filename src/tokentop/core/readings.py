"""A usage counter's readings over time, kept bounded however long tokentop runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from tokentop.core.event import CounterReading


class ReadingHistory:
    """One counter's readings, oldest first, thinned as they age so memory stays bounded however long
    tokentop runs: every reading of the last hour, then the last reading of each hour for a day, then
    the last of each day for 40 days (enough to see a period boundary and what the counter held
    before it)."""

    __slots__ = ("_items",)
    THIN_EVERY: Final = 64
    RECENT: Final = 3600.0
    HOURLY: Final = 25 * 3600.0
    KEEP: Final = 40 * 86400.0

    def __init__(self) -> None:
        self._items: list[CounterReading] = []

    def add(self, reading: CounterReading) -> None:
        self._items.append(reading)
        if len(self._items) % self.THIN_EVERY == 0:
            self._thin(reading.at)

    def _thin(self, now: float) -> None:
        kept: list[CounterReading] = []
        last_slot: tuple[str, int] | None = None
        for r in reversed(self._items):  # newest first, so each hour/day keeps its last reading
            age = now - r.at
            if age <= self.RECENT:
                kept.append(r)
                continue
            if age > self.KEEP:
                break
            slot = ("h", int(r.at // 3600)) if age <= self.HOURLY else ("d", int(r.at // 86400))
            if slot != last_slot:
                kept.append(r)
                last_slot = slot
        kept.reverse()
        self._items = kept

    def __iter__(self) -> Iterator[CounterReading]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
