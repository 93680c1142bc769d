"""What every source shares: its status, the batches it yields, and the interface the app and CLI use."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Literal, Protocol

from tokentop.core.event import CounterReading, SkipRecord, UsageEvent, iso
from tokentop.core.summaries import Summary, summed_requests

State = Literal["starting", "ok", "stale", "error", "done"]
_TS = attrgetter("ts")


@dataclass(slots=True)
class UserLimit:
    """A user's limit and plan as reported by the system being watched (a usage endpoint)."""

    user: str
    limit: int | None
    plan: str | None = None


@dataclass(slots=True)
class Batch:
    """What a source read in one go: new events, events superseded by ``events`` (a format saw a more
    complete version of the same request), limits reported for users, and raw counter readings."""

    events: list[UsageEvent] = field(default_factory=list)
    retracted: list[UsageEvent] = field(default_factory=list)
    limits: list[UserLimit] = field(default_factory=list)
    readings: list[CounterReading] = field(default_factory=list)
    summaries: list[Summary] = field(default_factory=list)
    """History a database summed (see ``tokentop.core.summaries``): counted like the events it stands for."""

    def __bool__(self) -> bool:
        return bool(self.events or self.retracted or self.limits or self.readings or self.summaries)


@dataclass(slots=True)
class SourceStatus:
    """A source's health and counters, shown in the header and in snapshots.

    ``skipped`` counts records that could not be used; ``skip_reasons`` keeps how many of each
    reason and ``last_skip`` the latest detail, so nothing is lost silently.
    """

    name: str
    kind: str
    state: State = "starting"
    events: int = 0
    skipped: int = 0
    skip_reasons: Counter[str] = field(default_factory=Counter)
    last_skip: str | None = None
    last_event_at: float | None = None
    """Event time (UTC epoch seconds) of the newest event."""
    last_read_at: float | None = None
    """Wall-clock time the source last read anything successfully."""
    error: str | None = None
    detail: str | None = None
    """Extra state for display: the file being followed, the HTTP status, ..."""
    lag_seconds: float | None = None
    """How far behind the source is: for logs and ledgers, how old the newest record was when it was
    read (a backfill of old records shows its age until it catches up); for usage endpoints, the age
    of the last good response."""

    def skip(self, problem: SkipRecord) -> None:
        self.skipped += 1
        self.skip_reasons[problem.reason] += 1
        self.last_skip = str(problem)[:200]

    def saw(self, events: list[UsageEvent], now: float | None = None) -> None:
        self.events += len(events)
        read_at = time.time() if now is None else now
        if events:
            newest = max(map(_TS, events))  # C-level loop: a backfill sees millions
            if self.last_event_at is None or newest > self.last_event_at:
                self.last_event_at = newest
            self.lag_seconds = max(0.0, read_at - newest)
        self.last_read_at = read_at
        if self.state in ("starting", "stale"):
            self.state = "ok"

    def saw_summaries(self, summaries: list[Summary], now: float) -> None:
        """:meth:`saw` for history summed by a database: its requests count as events read."""
        self.events += summed_requests(summaries)
        newest = max((s.counts.last_ts for s in summaries), default=None)
        if newest is not None and (self.last_event_at is None or newest > self.last_event_at):
            self.last_event_at = newest
            self.lag_seconds = max(0.0, now - newest)
        self.last_read_at = now

    def fail(self, message: str) -> None:
        self.state = "error"
        self.error = message

    def recover(self) -> None:
        if self.state == "error":
            self.state = "ok"
        self.error = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.state,
            "events": self.events,
            "skipped": self.skipped,
            "skip_reasons": dict(self.skip_reasons),
            "last_skip": self.last_skip,
            "last_event_at": iso(self.last_event_at),
            "error": self.error,
            "detail": self.detail,
            "lag_seconds": self.lag_seconds,
        }


class Source(Protocol):
    """A usage source. ``role`` is ``primary`` (counted in totals) or ``reference`` (compared only)."""

    name: str
    kind: str
    role: str
    status: SourceStatus

    def batches(self, follow: bool) -> AsyncIterator[Batch]:
        """Yield batches: everything up to the current end, then (if ``follow``) new data as it
        arrives, until cancelled. Without ``follow`` the iterator ends once the end is reached.
        Errors are reported through ``status``, never raised for bad data or a failing peer."""
        ...

    async def aclose(self) -> None: ...
