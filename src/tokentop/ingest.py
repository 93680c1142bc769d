"""Draining sources into an aggregator: shared by the headless commands and the live app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from tokentop.core.aggregate import Aggregator
from tokentop.core.event import UsageEvent
from tokentop.sources.base import Batch, Source

EventFilter = Callable[[UsageEvent], bool]


def apply_batch(agg: Aggregator, batch: Batch, keep: EventFilter | None = None) -> None:
    """Add a batch's events, take back what it retracts, and record reported limits and counter readings.

    Events go in before retractions: a retraction may refer to an event of this same batch.
    """
    events = batch.events if keep is None else [e for e in batch.events if keep(e)]
    agg.add_many(events)
    for event in batch.retracted:
        if keep is None or keep(event):
            agg.remove(event)
    for limit in batch.limits:
        agg.set_user_limit(limit.user, limit.limit, limit.plan)
    for reading in batch.readings:
        agg.add_reading(reading)


async def drain(sources: Sequence[Source], agg: Aggregator, keep: EventFilter | None = None) -> None:
    """Read every source to its current end (concurrently) into ``agg``, then close them."""

    async def one(source: Source) -> None:
        try:
            async for batch in source.batches(follow=False):
                apply_batch(agg, batch, keep)
        finally:
            await source.aclose()

    await asyncio.gather(*(one(s) for s in sources))


def time_filter(since: float | None, until: float | None) -> EventFilter | None:
    if since is None and until is None:
        return None
    lo = float("-inf") if since is None else since
    hi = float("inf") if until is None else until
    return lambda e: lo <= e.ts < hi
