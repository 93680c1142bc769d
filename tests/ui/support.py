"""Sources and events for the UI tests.

:func:`follow_file` follows a real file with the real JSONL source when this build has it; until that
source is merged it falls back to :class:`FileFollower`, a deliberately small poller that runs the
real decoding path (``LineDecoder`` + ``Normaliser``) but none of the rotation / truncation handling
the real source has. :class:`ListSource` yields fixed batches (deterministic snapshot tests).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import orjson

from tokentop.core.event import UsageEvent
from tokentop.core.lines import LineDecoder, split_lines
from tokentop.core.normalise import NormaliseOptions, Normaliser
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


class FileFollower:
    """Follows one growing JSONL file by polling (test stand-in for tokentop.sources.jsonl)."""

    def __init__(self, path: Path, name: str | None = None, interval: float = 0.005) -> None:
        self.path, self.interval = path, interval
        self.name, self.kind, self.role = name or path.name, "jsonl", "primary"
        self.status = SourceStatus(self.name, self.kind)
        self.decoder = LineDecoder(Normaliser(NormaliseOptions(source=self.name)), self.status.skip)

    async def batches(self, follow: bool) -> AsyncIterator[Batch]:
        offset, rest = 0, b""
        while True:
            with self.path.open("rb") as f:
                f.seek(offset)
                chunk = f.read()
            offset += len(chunk)
            lines, rest = split_lines(rest + chunk)
            events = self.decoder.decode(lines, time.time()) if lines else []
            if events:
                self.status.saw(events)
                yield Batch(events=events)
            elif not follow:
                return
            else:
                self.status.saw([])
                await asyncio.sleep(self.interval)

    async def aclose(self) -> None:
        pass


def follow_file(path: Path, name: str | None = None):  # noqa: ANN201
    """The real JSONL source on ``path`` (from its beginning, polling fast), else :class:`FileFollower`."""
    from tokentop.config import Config, ConfigError, SourceConfig
    from tokentop.sources.registry import open_source

    options = {"path": str(path), "start": "beginning", "poll_interval": 0.05}
    try:
        return open_source(SourceConfig(name or path.name, "jsonl", options), Config())
    except ConfigError as exc:
        if "not available" not in exc.problem:
            raise
        return FileFollower(path, name)


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
