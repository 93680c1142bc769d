"""The worker process of a parallel backfill (:mod:`tokentop.backfill`): it reads one share of a
source's files with a source of its own, sends what it counted as it goes, exchanges superseding keys
with the other shares (through the main process), and hands back where it stopped.

Started as ``python -m tokentop.backfill_worker``; it speaks length-prefixed msgpack frames on stdin
and stdout (:func:`frames`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from array import array
from collections.abc import Callable
from operator import attrgetter
from pathlib import Path
from typing import Any, Final

import msgspec

from tokentop.config import SourceConfig
from tokentop.core import aggstate
from tokentop.core.aggregate import Aggregator
from tokentop.core.event import UsageEvent

FIRST_DELTA: Final = 0.1
_TS = attrgetter("ts")
WIDE: Final = 1 << 30
"""Superseding keys a worker remembers: all of its share's."""


class WorkerResult(msgspec.Struct):
    resume: dict[str, Any]
    status: dict[str, Any]
    taken_back: list[UsageEvent]
    """Events to take back: another share counted the same request with a better record."""
    lost: int = 0
    """Such events that had left this worker's memory (cannot be taken back)."""
    peak_mib: float = 0.0


def _worker(read: Callable[[], bytes], send: Callable[[bytes], None]) -> None:
    """Read a share (the request is the first frame), sending what was counted every
    ``delta_every`` seconds, if given (a delta: what was counted since, and the events superseded
    since); then exchange superseding keys and send the result."""
    import glob
    import pickle

    from tokentop.checkpoint import status_state
    from tokentop.ingest import apply_batch
    from tokentop.sources.registry import open_source

    spec, config, files, delta_every = pickle.loads(read())  # noqa: S301 - from the parent process, through a pipe
    options = dict(spec.options)
    if spec.kind == "claude":  # the follower of one projects folder: its format, these files
        from tokentop.sources.claude import jsonl_options

        options = jsonl_options(options, Path("."))
    options["path"] = [glob.escape(f) for f in files]
    source = open_source(SourceConfig(spec.name, "jsonl", options), config)
    source.decoder.normaliser = source.decoder.normaliser.widened(WIDE)  # type: ignore[attr-defined]

    def delta_message(delta: Aggregator, retracted: list[UsageEvent], ring: list[UsageEvent], done: int,
                      total: int) -> bytes:
        delta.recent.clear()
        delta.recent.extend(ring)  # (the newest by time: the parent merges the rings by time)
        return msgspec.msgpack.encode(["delta", aggstate.encode(delta.to_state()), retracted, done, total])

    async def read_share() -> None:
        delta, retracted, ring = Aggregator(config.plans, clock=time.time, max_keys=config.limits.max_keys), [], []
        # (the first one soon: the screen shows something at once)
        due = time.monotonic() + FIRST_DELTA if delta_every is not None else float("inf")
        async for batch in source.batches(follow=False):
            retracted += batch.retracted  # (they may be of an earlier delta: the parent takes them back)
            batch.retracted = []
            apply_batch(delta, batch)
            ring = newest(ring, batch.events, delta.recent.maxlen or 1000)
            if time.monotonic() >= due:
                progress = source.progress
                send(delta_message(delta, retracted, ring, *((progress.done, progress.total) if progress else (0, 0))))
                delta, retracted, ring = Aggregator(config.plans, clock=time.time, max_keys=config.limits.max_keys), [], []
                due = time.monotonic() + delta_every  # type: ignore[operator]
        send(delta_message(delta, retracted, ring, 1, 1))

    asyncio.run(read_share())
    superseding = source.decoder.normaliser.superseding()  # type: ignore[attr-defined]
    ranks = superseding.ranks()
    send(msgspec.msgpack.encode(["keys", array("Q", ranks).tobytes(), array("q", ranks.values()).tobytes()]))
    losers = array("Q")
    losers.frombytes(read())
    taken_back = [e for e in map(superseding.take_back, losers) if e is not None]
    source.status.events -= len(taken_back)
    resume = source.checkpoint()
    # every key of the share, not only the most recent (as a restart keeps): a file the workers left
    # for the main source to read (a copy of another's start, held back) repeats keys of any age
    resume["decoder"] = superseding.export_state(keys=WIDE)
    result = WorkerResult(resume, status_state(source.status), taken_back, len(losers) - len(taken_back), _peak_mib())
    send(msgspec.msgpack.encode(["done", result]))


def newest(ring: list[UsageEvent], events: list[UsageEvent], count: int) -> list[UsageEvent]:
    """The ``count`` newest by time of ``ring`` (oldest first) and ``events``: a share is read in file
    order, not time order (today's file before older ones), and only its newest requests are shown."""
    if len(events) > count:
        times = list(map(_TS, events))
        cut = sorted(times)[-count]
        events = [e for e, t in zip(events, times) if t >= cut]
    return sorted([*ring, *events], key=_TS)[-count:]


def _peak_mib() -> float:
    """This process's peak resident memory (Linux; 0 elsewhere)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def frames(stream: Any) -> tuple[Callable[[], bytes], Callable[[bytes], None]]:
    """Reading and writing length-prefixed frames on a pair of binary streams."""
    reader, writer = stream

    def read() -> bytes:
        head = reader.read(4)
        if len(head) < 4:
            raise EOFError
        size = int.from_bytes(head, "big")
        data = reader.read(size)
        if len(data) < size:
            raise EOFError
        return data

    def send(data: bytes) -> None:
        writer.write(len(data).to_bytes(4, "big") + data)
        writer.flush()

    return read, send


def main() -> None:
    """The worker process (``python -m tokentop.backfill_worker``): frames on stdin and stdout; anything
    else written to stdout goes to stderr."""
    import sys

    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    read, send = frames((sys.stdin.buffer, out))
    try:
        _worker(read, send)
    except BaseException as exc:  # noqa: BLE001 - the parent reports it and reads in-process instead
        with contextlib.suppress(Exception):
            send(msgspec.msgpack.encode(["error", f"{type(exc).__name__}: {exc}"[:300]]))
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
