"""Fixtures for source tests: a real writer process, and a follower collecting what a source yields."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tokentop.config import Config
from tokentop.core.event import UsageEvent
from tokentop.sources.jsonl import make_source

WRITER = Path(__file__).resolve().parent.parent / "log_writer.py"
FAST = {"poll_interval": 0.1, "rotate_wait": 0.4}
"""Short intervals so follow tests stay fast."""


class Writer:
    """A separate Python process that writes log files on command (tests/log_writer.py)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def __call__(self, *command: object) -> str:
        """Run a command; what the writer answered after ``ok`` (see tests/log_writer.py)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((" ".join(map(str, command)) + "\n").encode())
        await self.proc.stdin.drain()
        answer = (await asyncio.wait_for(self.proc.stdout.readline(), 10)).decode()
        assert answer.startswith("ok"), f"writer failed on {command}: {answer!r}"
        return answer[2:].strip()


@pytest.fixture
def server():
    """A real HTTP server on 127.0.0.1 with scripted replies (tests/sources/endpoint_server.py)."""
    from endpoint_server import UsageServer

    s = UsageServer()
    yield s
    s.close()


@pytest.fixture
async def writer():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(WRITER), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    yield Writer(proc)
    if proc.returncode is None:
        assert proc.stdin is not None
        proc.stdin.write(b"quit\n")
        await proc.stdin.drain()
        await asyncio.wait_for(proc.wait(), 10)


class Follower:
    """Runs a source with ``batches(follow=True)`` in a task and keeps every event it yields."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.events: list[UsageEvent] = []
        self.batch_sizes: list[int] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for batch in self.source.batches(follow=True):
            self.events += batch.events
            self.batch_sizes.append(len(batch.events))

    @property
    def seqs(self) -> list[int]:
        return [int(e.request_id[1:]) for e in self.events if e.request_id]

    async def until(self, condition: Callable[[], bool], timeout: float = 8.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.task.done():
                self.task.result()
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; status={self.source.status.to_dict()} seqs={summary(self.seqs)}")
            await asyncio.sleep(0.02)

    async def has(self, seqs: range | list[int], timeout: float = 8.0) -> None:
        wanted = set(seqs)
        await self.until(lambda: wanted <= set(self.seqs), timeout)

    async def stop(self) -> None:
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass


def summary(seqs: list[int]) -> str:
    dupes = sorted(s for s, n in Counter(seqs).items() if n > 1)
    return f"{len(seqs)} read, min {min(seqs, default=None)}, max {max(seqs, default=None)}, duplicates {dupes[:10]}"


def assert_exactly_once(seqs: list[int], expected: range) -> None:
    counts = Counter(seqs)
    missing = [s for s in expected if counts[s] == 0]
    dupes = [s for s, n in counts.items() if n > 1]
    extra = [s for s in counts if s not in expected]
    assert not missing and not dupes and not extra, f"missing {missing[:20]}, duplicated {dupes[:20]}, unexpected {extra[:20]}"


@pytest.fixture
async def follow():
    """``await follow(path, **options)`` -> a running Follower; all are stopped at the end."""
    running: list[Follower] = []

    async def start(path: Path | str, **options: Any) -> Follower:
        source = make_source("test", {"path": str(path), **FAST, **options}, Config())
        follower = Follower(source)
        running.append(follower)
        await follower.until(lambda: source.status.state != "starting")  # first sweep and backfill done
        return follower

    yield start
    for follower in running:
        await follower.stop()
