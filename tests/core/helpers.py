"""Small builders shared by the core tests."""

from __future__ import annotations

from typing import Any

import orjson

from tokentop.core.event import UsageEvent
from tokentop.core.normalise import NormaliseOptions, Normaliser

READ_TIME = 1_790_000_000.0


def normalise(record: Any, read_time: float = READ_TIME, **options: Any) -> UsageEvent:
    """Normalise one record given as a dict (encoded to a line first) or as raw bytes."""
    line = record if isinstance(record, bytes) else orjson.dumps(record)
    event = Normaliser(NormaliseOptions(source=options.pop("source", "test"), **options)).from_line(line, read_time)
    assert event is not None
    return event


def event(ts: float, **fields: Any) -> UsageEvent:
    """A normalised event built directly (for aggregation tests)."""
    fields.setdefault("source", "s")
    fields.setdefault("provider", "openai")
    fields.setdefault("model", "gpt-4o")
    prompt = fields.setdefault("prompt_tokens", 10)
    completion = fields.setdefault("completion_tokens", 5)
    fields.setdefault("total_tokens", prompt + completion)
    return UsageEvent(ts=ts, **fields)
