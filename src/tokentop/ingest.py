"""Draining sources into an aggregator: shared by the headless commands and the live app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tokentop.core.aggregate import Aggregator
from tokentop.core.event import UsageEvent
from tokentop.core.overlap import RequestOverlap
from tokentop.sources.base import Batch, Progress, Source

EventFilter = Callable[[UsageEvent], bool]


def apply_batch(agg: Aggregator, batch: Batch, keep: EventFilter | None = None,
                overlap: RequestOverlap | None = None) -> None:
    """Add a batch's events, take back what it retracts, and record reported limits and counter readings.

    Events go in before retractions: a retraction may refer to an event of this same batch. With
    ``overlap`` (several counted sources), a request another source already delivered counts once.
    """
    events = batch.events if keep is None else [e for e in batch.events if keep(e)]
    retracted = batch.retracted if keep is None else [e for e in batch.retracted if keep(e)]
    if overlap is not None:  # (summed history carries no request ids: it is not de-duplicated)
        events, retracted = overlap.admit(events, retracted)
    if batch.summaries:
        agg.add_summaries(batch.summaries)  # (sources sum only within a time filter they were given)
    agg.add_many(events)
    for event in retracted:
        agg.remove(event)
    for limit in batch.limits:
        agg.set_user_limit(limit.user, limit.limit, limit.plan)
    for reading in batch.readings:
        agg.add_reading(reading)


async def drain(sources: Sequence[Source], agg: Aggregator, keep: EventFilter | None = None,
                overlap: RequestOverlap | None = None, before_close: Callable[[], None] | None = None) -> None:
    """Read every source to its current end (concurrently) into ``agg``, then close them; once all
    were read, ``before_close`` runs first (a checkpoint: sources forget where they are when closed,
    and the request overlap lets go of its ids when told the sources are done)."""

    if isinstance(keep, TimeFilter):
        for source in sources:
            restrict = getattr(source, "restrict_time", None)
            if restrict is not None:  # a source summing in a database filters there
                restrict(keep.since, keep.until)

    async def one(source: Source) -> None:
        async for batch in source.batches(follow=False):
            apply_batch(agg, batch, keep, overlap)

    try:
        await asyncio.gather(*(one(s) for s in sources))
        if before_close is not None:
            before_close()
    finally:
        for source in sources:
            if overlap is not None:
                overlap.finish(source.name)
            with contextlib.suppress(Exception):  # closing must not hide why we are leaving
                await source.aclose()


@contextlib.asynccontextmanager
async def following(
    sources: Sequence[Source], on_batch: Callable[[Source, Batch], None]
) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Follow every source in its own task, handing each batch to ``on_batch``; on leaving the block
    the tasks are cancelled and the sources closed. Yields the tasks (a failed one has its exception)."""

    async def pump(source: Source) -> None:
        async for batch in source.batches(follow=True):
            on_batch(source, batch)

    tasks = [asyncio.create_task(pump(s), name=f"follow {s.name}") for s in sources]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for source in sources:
            with contextlib.suppress(Exception):  # closing must not hide why we are leaving
                await source.aclose()


def drop_raw_lines(sources: Sequence[Source]) -> None:
    """The headless commands never show a request's raw line: its decoders need not keep them (a
    backfill batch of transcript lines held tens of MB of them). Sources without a line decoder are
    left as they are."""
    for source in sources:
        for part in getattr(source, "sources", [source]):  # (a merged source: each follower)
            decoder = getattr(part, "decoder", None)
            if decoder is not None:
                decoder.normaliser.drop_raw()


def counted_sources(sources: Sequence[Source]) -> Callable[[str], bool] | None:
    """Which sources count towards totals: the primary ones; reference sources (kept for comparison)
    only when there are no primary ones (None: every source counts)."""
    primary = {s.name for s in sources if s.role == "primary"}
    return (lambda name: name in primary) if primary else None


def history_progress(sources: Sequence[Source], backfilling: Mapping[str, tuple[int, int]] | None = None
                     ) -> tuple[int, int, str] | None:
    """(done, total, unit) of the history the sources (or, for those in ``backfilling``, their worker
    processes: bytes) are still reading, None once all have caught up. Sources counting in different
    units (bytes, rows) are summed as shares: (per mille, 1000, "")."""
    backfilling = backfilling or {}
    reading = [Progress(*backfilling[s.name], "bytes") if s.name in backfilling else getattr(s, "progress", None)
               for s in sources]
    reading = [p for p in reading if p is not None and not p.complete]
    if not reading:
        return None
    if len({p.unit for p in reading}) == 1:
        return sum(p.done for p in reading), sum(p.total for p in reading), reading[0].unit
    return round(1000 * sum(p.fraction for p in reading) / len(reading)), 1000, ""


def overlap_for(sources: Sequence[Source]) -> RequestOverlap | None:
    """De-duplication of requests across the counted sources, in their order (None: fewer than two)."""
    counted = counted_sources(sources)
    names = [s.name for s in sources if counted is None or counted(s.name)]
    return RequestOverlap(list(dict.fromkeys(names))) if len(set(names)) > 1 else None


def source_statuses(sources: Sequence[Source], overlap: RequestOverlap | None = None) -> list[dict[str, Any]]:
    """Each source's status as snapshots carry it: its role, and its overlap with the other counted
    sources when requests are de-duplicated across them."""
    out = []
    for source in sources:
        status = {**source.status.to_dict(), "role": source.role}
        shared = overlap.status(source.name) if overlap is not None else None
        if shared is not None:
            status["overlap"] = shared
        out.append(status)
    return out


@dataclass(frozen=True, slots=True)
class TimeFilter:
    """Events in ``[since, until)``; sources that sum history are told it (their sums must respect it)."""

    since: float | None
    until: float | None

    def __call__(self, e: UsageEvent) -> bool:
        return (self.since is None or e.ts >= self.since) and (self.until is None or e.ts < self.until)


def time_filter(since: float | None, until: float | None) -> TimeFilter | None:
    if since is None and until is None:
        return None
    return TimeFilter(since, until)
