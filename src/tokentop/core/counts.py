"""Counters for one group of requests (a provider, a model, a user, a minute ...)."""

from __future__ import annotations

from typing import Any

from tokentop.core.event import UsageEvent


class Counts:
    """Request and token counters; ``accuracy`` is provider-reported requests over all requests."""

    __slots__ = (
        "requests", "prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens",
        "cache_write_tokens", "reasoning_tokens", "actual", "estimated", "missing", "mismatched",
        "errors", "cache_hits", "cost", "first_ts", "last_ts",
    )

    def __init__(self) -> None:
        self.requests = self.prompt_tokens = self.completion_tokens = self.total_tokens = 0
        self.cached_tokens = self.cache_write_tokens = self.reasoning_tokens = 0
        self.actual = self.estimated = self.missing = self.mismatched = self.errors = self.cache_hits = 0
        self.cost = 0.0
        self.first_ts = float("inf")
        self.last_ts = float("-inf")

    def add(self, e: UsageEvent) -> None:
        self.requests += 1
        self.prompt_tokens += e.prompt_tokens
        self.completion_tokens += e.completion_tokens
        self.total_tokens += e.total_tokens
        self.cached_tokens += e.cached_tokens
        self.cache_write_tokens += e.cache_write_tokens
        self.reasoning_tokens += e.reasoning_tokens
        source = e.token_source
        if source == "actual":
            self.actual += 1
        elif source == "estimated":
            self.estimated += 1
        else:
            self.missing += 1
        if e.mismatched:
            self.mismatched += 1
        if e.error is not None or (e.status is not None and e.is_error):
            self.errors += 1
        if e.cache_hit:
            self.cache_hits += 1
        if e.cost is not None:
            self.cost += e.cost
        ts = e.ts
        if ts < self.first_ts:
            self.first_ts = ts
        if ts > self.last_ts:
            self.last_ts = ts

    def remove(self, e: UsageEvent) -> None:
        """Take back an event that a format has superseded (first/last times are kept)."""
        self.requests -= 1
        self.prompt_tokens -= e.prompt_tokens
        self.completion_tokens -= e.completion_tokens
        self.total_tokens -= e.total_tokens
        self.cached_tokens -= e.cached_tokens
        self.cache_write_tokens -= e.cache_write_tokens
        self.reasoning_tokens -= e.reasoning_tokens
        setattr(self, e.token_source, getattr(self, e.token_source) - 1)
        self.mismatched -= e.mismatched
        self.errors -= e.error is not None or (e.status is not None and e.is_error)
        self.cache_hits -= e.cache_hit
        if e.cost is not None:
            self.cost -= e.cost

    def merge(self, other: Counts) -> None:
        for name in self.__slots__[:-2]:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.first_ts = min(self.first_ts, other.first_ts)
        self.last_ts = max(self.last_ts, other.last_ts)

    @property
    def accuracy(self) -> float | None:
        return self.actual / self.requests if self.requests else None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in self.__slots__[:-2]}
        data["cost"] = round(self.cost, 6)
        data["accuracy"] = None if self.accuracy is None else round(self.accuracy, 4)
        return data

    def __repr__(self) -> str:
        return f"Counts(requests={self.requests}, total_tokens={self.total_tokens})"
