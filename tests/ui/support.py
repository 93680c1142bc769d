"""Sources and events for the UI tests.

:func:`follow_file` follows a real file with the real JSONL source; :class:`ListSource` yields fixed
batches (deterministic snapshot tests).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import orjson

from tokentop.core.event import UsageEvent
from tokentop.sources.base import Batch, SourceStatus


class ListSource:
    """Yields the given batches, then stays open (as a followed source would) until cancelled."""

    def __init__(self, name: str, batches: Sequence[Batch], kind: str = "test", role: str = "primary") -> None:
        self.name, self.kind, self.role = name, kind, role
        self.status = SourceStatus(name, kind)
        self._batches = list(batches)
        self.closed = False

    async def batches(self, follow: bool) -> AsyncIterator[Batch]:
        for batch in self._batches:
            self.status.saw(batch.events, now=0.0)
            yield batch
        while follow:
            await asyncio.sleep(3600)

    async def aclose(self) -> None:
        self.closed = True


def follow_file(path: Path, name: str | None = None):  # noqa: ANN201
    """The real JSONL source on ``path`` (from its beginning, polling fast)."""
    from tokentop.config import Config, SourceConfig
    from tokentop.sources.registry import open_source

    options = {"path": str(path), "start": "beginning", "poll_interval": 0.05}
    return open_source(SourceConfig(name or path.name, "jsonl", options), Config())


def record(i: int, *, ts: float, user: str = "alice", provider: str = "openai", model: str = "gpt-4o",
           prompt: int = 100, completion: int = 50, **extra: object) -> bytes:
    """One JSON line in the hand-made ``app`` shape the normaliser accepts."""
    doc = {"ts": ts, "request_id": f"r{i}", "user": user, "provider": provider, "model": model,
           "prompt_tokens": prompt, "completion_tokens": completion, **extra}
    return orjson.dumps(doc) + b"\n"


def event(i: int, *, ts: float, source: str = "gateway", user: str | None = "alice", provider: str = "openai",
          model: str = "gpt-4o", prompt: int = 100, completion: int = 50, **extra: object) -> UsageEvent:
    return UsageEvent(ts=ts, source=source, request_id=f"r{i}", user=user, provider=provider, model=model,
                      prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion,
                      **extra)  # type: ignore[arg-type]
