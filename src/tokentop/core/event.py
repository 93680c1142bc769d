"""The one normalised usage event every source produces, and the reasons a record can be skipped."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Final, Literal

import msgspec

TokenSource = Literal["actual", "estimated", "missing"]
TOKEN_SOURCES: Final = ("actual", "estimated", "missing")

UNKNOWN: Final = "unknown"


class UsageEvent(msgspec.Struct, gc=False):
    """One request, normalised to tokentop's canonical meaning.

    Build it with keywords; hot paths (a line or row a microsecond) may pass every field positionally,
    in declaration order: that is several times faster than keywords.

    Canonical meaning (the same for every format; see docs/normalisation.md):
    ``prompt_tokens`` is all input including cache reads and writes, of which ``cached_tokens`` and
    ``cache_write_tokens`` are subsets; ``completion_tokens`` is all output including reasoning, of
    which ``reasoning_tokens`` is a subset; ``total_tokens`` is the reported total, else the sum.
    """

    ts: float
    """Event time as UTC epoch seconds (see :attr:`time` for an aware datetime)."""
    source: str
    """Name of the tokentop source that read the record."""
    request_id: str | None = None
    user: str | None = None
    api_key_id: str | None = None
    """A key's own id or a short hash of it, never the key itself."""
    team: str | None = None
    platform: str | None = None
    endpoint: str | None = None
    provider: str = UNKNOWN
    provider_inferred: bool = False
    """True when the provider was inferred from the model name, not read from the record."""
    model: str = UNKNOWN
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    token_source: TokenSource = "actual"
    mismatched: bool = False
    """The reported total differs from prompt + completion by more than 1."""
    cost: float | None = None
    cost_computed: bool = False
    """True when ``cost`` came from tokentop's price table rather than the record."""
    latency_ms: float | None = None
    status: str | None = None
    error: str | None = None
    cache_hit: bool = False
    time_inferred: bool = False
    """The record carried no time; ``ts`` is the time it was read."""
    format: str | None = None
    """Name of the record format that produced the event (``app``, ``openai.chat`` ...)."""
    raw: bytes | None = None
    """The raw record as read, kept for the detail view; never aggregated."""
    requests: int = 1
    """How many requests the event stands for: 1 for a record of one request; 0 for usage that comes
    without requests (deltas of an OpenTelemetry token counter), or the count the data gives (a
    histogram's count). Token-source, mismatch, error and cache-hit counters count it the same way."""

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.ts, timezone.utc)

    @property
    def is_error(self) -> bool:
        return self.error is not None or (self.status is not None and self.status not in OK_STATUSES)


OK_STATUSES: Final = frozenset({"ok", "success", "succeeded", "completed", "200", "stop", "end_turn"})


class SkipRecord(Exception):
    """A record that cannot be turned into an event. ``reason`` is a short, stable category."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def event_to_dict(event: UsageEvent) -> dict[str, Any]:
    """Every normalised field, named as in the snapshot contract (``ts`` as ISO 8601 UTC)."""
    data = msgspec.structs.asdict(event)
    data.pop("raw", None)
    if event.requests == 1:
        del data["requests"]  # the common case: one record, one request (output as before)
    data["ts"] = iso(event.ts)
    return data


def iso(ts: float | None) -> str | None:
    """UTC epoch seconds as ISO 8601 with millisecond precision and a ``Z``."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class CounterReading(msgspec.Struct, kw_only=True, gc=False):
    """One reading of a usage counter kept by the system being watched (a per-user usage endpoint).

    Successive readings are turned into usage deltas by the endpoint source; the readings themselves
    feed the counter rules (drift against other sources, resets, missing resets).
    """

    source: str
    user: str
    at: float
    """Wall-clock time of the reading (UTC epoch seconds)."""
    total_tokens: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    requests: int | None = None
    limit: int | None = None
    plan: str | None = None
    period_tokens: int | None = None
    """The counter the system resets each period (``tokensUsed``, this month's usage), if it has one."""
    period_start: float | None = None
    """When the period ``period_tokens`` counts from began, when the system says (a last-reset time, the
    month a monthly tally is booked to); None when it does not."""
    last_request_at: float | None = None
