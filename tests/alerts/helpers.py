"""Synthetic event streams and situations for the alert tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tokentop.core.aggregate import Aggregator
from tokentop.core.alerts import Situation, SourceInfo, parse_alert_settings
from tokentop.core.event import CounterReading, UsageEvent
from tokentop.sources.base import SourceStatus


def event(ts: float, source: str = "gateway", **fields: Any) -> UsageEvent:
    fields.setdefault("provider", "openai")
    fields.setdefault("model", "gpt-4o")
    fields.setdefault("user", "alice")
    prompt, completion = fields.pop("prompt_tokens", 100), fields.pop("completion_tokens", 50)
    total = fields.pop("total_tokens", prompt + completion)
    return UsageEvent(ts=ts, source=source, prompt_tokens=prompt, completion_tokens=completion,
                      total_tokens=total, **fields)


def stream(agg: Aggregator, start: float, end: float, every: float, **fields: Any) -> int:
    """Add one event every ``every`` seconds in ``[start, end)``; returns how many."""
    n = 0
    ts = start
    while ts < end:
        agg.add(event(ts, **fields))
        ts += every
        n += 1
    return n


def reading(at: float, user: str = "alice", source: str = "usage-api", **fields: Any) -> CounterReading:
    return CounterReading(source=source, user=user, at=at, **fields)


def situation(agg: Aggregator, now: float, *sources: SourceInfo | str) -> Situation:
    infos = tuple(SourceInfo(s) if isinstance(s, str) else s for s in sources) or (SourceInfo("gateway"),)
    agg.advance(now)
    return Situation(agg, now, infos)


def rule_settings(rule: str, **overrides: Any) -> dict[str, Any]:
    return dict(parse_alert_settings({rule: overrides}).rule(rule))


@dataclass
class StubSource:
    """A source as the glue sees it: a name, a kind, a role and a real SourceStatus (no reading)."""

    name: str
    kind: str = "jsonl"
    role: str = "primary"
    status: SourceStatus = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.status is None:
            self.status = SourceStatus(self.name, self.kind, state="ok")
