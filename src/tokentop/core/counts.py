"""Counters for one group of requests (a provider, a model, a user, a minute ...)."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from tokentop.core.event import OK_STATUSES, UsageEvent


COST_UNITS: Final = 10**12
"""Cost is counted in millionths of a millionth of a dollar."""
_UNIT: Final = float(COST_UNITS)


class Counts(msgspec.Struct, array_like=True, gc=False):
    """Request and token counters; ``accuracy`` is provider-reported requests over all requests.

    A msgspec Struct with ``gc=False``: an aggregator holds hundreds of thousands of these, and as
    plain objects they were tracked (and repeatedly traversed) by the cycle collector although they
    only ever hold numbers (``array_like``: a checkpoint holds them as arrays, without field names).
    ``add`` and ``merge`` are spelt out field by field because they run once
    per event and per cell: a loop over field names with getattr/setattr was several times slower.
    """

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    actual: int = 0
    estimated: int = 0
    missing: int = 0
    mismatched: int = 0
    errors: int = 0
    cache_hits: int = 0
    cost_units: int = 0
    """Cost in USD * ``COST_UNITS`` (see :attr:`cost`): a sum of integers is the same in any order, so
    shares of events counted apart and merged -- a checkpoint and what came after it, the workers of a
    backfill -- give the same cost to the last digit as one reader."""
    first_ts: float = float("inf")
    last_ts: float = float("-inf")

    def add(self, e: UsageEvent) -> None:
        count_event(e, self)

    def remove(self, e: UsageEvent) -> None:
        """Take back an event that a format has superseded (first/last times are kept)."""
        n = e.requests
        self.requests -= n
        self.prompt_tokens -= e.prompt_tokens
        self.completion_tokens -= e.completion_tokens
        self.total_tokens -= e.total_tokens
        self.cached_tokens -= e.cached_tokens
        self.cache_write_tokens -= e.cache_write_tokens
        self.reasoning_tokens -= e.reasoning_tokens
        setattr(self, e.token_source, getattr(self, e.token_source) - n)
        self.mismatched -= e.mismatched * n
        self.errors -= e.is_error * n
        self.cache_hits -= e.cache_hit * n
        if e.cost is not None:
            self.cost_units -= round(e.cost * _UNIT)

    def merge(self, other: Counts) -> None:
        self.requests += other.requests
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.total_tokens += other.total_tokens
        self.cached_tokens += other.cached_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.actual += other.actual
        self.estimated += other.estimated
        self.missing += other.missing
        self.mismatched += other.mismatched
        self.errors += other.errors
        self.cache_hits += other.cache_hits
        self.cost_units += other.cost_units
        if other.first_ts < self.first_ts:
            self.first_ts = other.first_ts
        if other.last_ts > self.last_ts:
            self.last_ts = other.last_ts

    @property
    def cost(self) -> float:
        """Cost in USD."""
        return self.cost_units / COST_UNITS

    @property
    def accuracy(self) -> float | None:
        return self.actual / self.requests if self.requests else None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in COUNTER_FIELDS}
        data["cost"] = round(self.cost, 6)
        data["accuracy"] = None if self.accuracy is None else round(self.accuracy, 4)
        return data

    def __repr__(self) -> str:
        return f"Counts(requests={self.requests}, total_tokens={self.total_tokens})"


def count_event(e: UsageEvent, *cells: Counts) -> None:
    """``cell.add(e)`` for each cell, reading the event once (the aggregator adds every event to its
    all-time, minute and billing-period cells; this is the ingest hot path).

    An event counts ``e.requests`` requests (1 but for usage without requests: see UsageEvent)."""
    prompt, completion, total = e.prompt_tokens, e.completion_tokens, e.total_tokens
    cached, cache_write, reasoning = e.cached_tokens, e.cache_write_tokens, e.reasoning_tokens
    source, cost, ts = e.token_source, e.cost, e.ts
    units = 0 if cost is None else round(cost * _UNIT)
    mismatched, cache_hit, n = e.mismatched, e.cache_hit, e.requests
    failed = e.error is not None or (e.status is not None and e.status not in OK_STATUSES)
    for c in cells:
        c.requests += n
        c.prompt_tokens += prompt
        c.completion_tokens += completion
        c.total_tokens += total
        if cached:
            c.cached_tokens += cached
        if cache_write:
            c.cache_write_tokens += cache_write
        if reasoning:
            c.reasoning_tokens += reasoning
        if source == "actual":
            c.actual += n
        elif source == "estimated":
            c.estimated += n
        else:
            c.missing += n
        if mismatched:
            c.mismatched += n
        if failed:
            c.errors += n
        if cache_hit:
            c.cache_hits += n
        if units:
            c.cost_units += units
        if ts < c.first_ts:
            c.first_ts = ts
        if ts > c.last_ts:
            c.last_ts = ts


COUNTER_FIELDS: Final = tuple("cost" if name == "cost_units" else name for name in Counts.__struct_fields__[:-2])
"""The summed fields (everything but the first/last event times), in snapshot order."""
