"""Reading a large history on every core: worker processes each read a share of a source's files.

A cold start of a source with much history (a month of rotated gateway logs, a tree of Claude Code
transcripts) is CPU-bound: decoding and counting cost microseconds a line. Here the files of one
JSONL source are split into shares, one per worker process. Each worker reads its share with a
source of its own (the same options, only its files), counts it into an aggregator of its own, and
hands back the aggregator's state, its source's resume state and its status counters. The main
process merges the aggregators (``Aggregator.merge``) and the resume states
(``jsonl.merge_states``) and restores its own source from them: it then reads only what was written
since the workers looked, and follows from there.

A format that supersedes (Claude Code: one response over several lines, resumed sessions copying
earlier ones) may see one request in two shares. Before handing back, each worker reports every key
it counted with its rank; for a key counted in several shares, the best rank stands (the earlier
share on a tie, as one reader would have kept it) and the others take their event back. A
request copied into two files counts once.

Shares: whole files (a single file is not split), balanced by size; Claude Code files stay with their
project folder (where a resumed session copies from). Workers are spawned (never forked: the live
app runs threads), at most one per core; what a worker does is in :mod:`tokentop.backfill_worker`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from array import array
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from tokentop.backfill_worker import WorkerResult, frames
from tokentop.config import Config, SourceConfig
from tokentop.core import aggstate
from tokentop.core.aggregate import Aggregator
from tokentop.core.event import UsageEvent
from tokentop.sources.base import Source

MIN_BYTES: Final = 48 << 20
"""History smaller than this is read in the main process: starting workers would cost more."""
MIN_SHARE: Final = 24 << 20
"""Bytes a worker should have to read at least."""
DELTA_EVERY: Final = 0.5
"""Seconds between two deltas a worker sends to the live app (what the screen shows fills in at that
pace). A headless read has no screen: its workers send one delta, at the end (each delta costs an
encode, a decode and a merge of the cells it touched: with deltas every 0.5 s the main process spent
as much CPU merging as a worker reading)."""
WORKER: Final = ("-m", "tokentop.backfill_worker")
"""How a worker process is started (with this Python)."""

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes total) as the workers read."""


@dataclass(frozen=True, slots=True)
class Share:
    files: tuple[str, ...]
    size: int


def plan(source: Source, spec: SourceConfig, workers: int | None = None) -> list[Share] | None:
    """The shares of ``source``'s files for a parallel read, or None when it is not worth it (one
    core, little history, one file) or not possible (not a single JSONL follower)."""
    from tokentop.sources.filewatch import matching_files
    from tokentop.sources.jsonl import JsonlSource

    if not isinstance(source, JsonlSource) or spec.kind not in ("jsonl", "claude"):
        return None
    cores = workers or cpu_count()
    sizes: dict[str, int] = {}
    for path in matching_files(source.patterns):
        with contextlib.suppress(OSError):
            sizes[path] = os.stat(path).st_size
    total = sum(sizes.values())
    count = min(cores, len(sizes), max(1, total // MIN_SHARE))
    if count < 2 or total < MIN_BYTES:
        return None
    groups: dict[str, list[str]] = {}
    for path in sizes:  # Claude Code: a project's files together; other logs: file by file
        groups.setdefault(_project(path, source.patterns) if spec.kind == "claude" else path, []).append(path)
    loads: list[list[str]] = [[] for _ in range(count)]
    weight = [0] * count
    for group in sorted(groups.values(), key=lambda g: -sum(sizes[p] for p in g)):  # largest first
        lightest = weight.index(min(weight))
        loads[lightest] += group
        weight[lightest] += sum(sizes[p] for p in group)
    shares = [Share(tuple(sorted(files)), size) for files, size in zip(loads, weight) if files]
    return shares if len(shares) > 1 else None  # (one project: a worker would only add its start)


def cpu_count() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _project(path: str, patterns: Sequence[str]) -> str:
    """The project folder a transcript belongs to: the folder under ``projects`` (the source may name
    Claude's home, ``claude:~/.claude``, or its projects folder), else the first folder under the
    pattern's root. (Taking the first folder under a home made every file one project: one share.)"""
    for pattern in patterns:
        root = pattern.split("*", 1)[0]
        if path.startswith(root):
            parts = path[len(root):].split(os.sep)
            if "projects" in parts[:-2]:
                return os.sep.join(parts[:parts.index("projects") + 2])
            return parts[0]
    return os.path.dirname(path)


# -- the main process ------------------------------------------------------------------------------

@dataclass(slots=True)
class Backfilled:
    """What the workers read, besides the counts they sent as they went."""

    resume: dict[str, Any]
    status: dict[str, Any]
    taken_back: list[UsageEvent]
    lost: int
    peak_mib: float
    """The largest worker's peak resident memory."""


Counted = Callable[[Aggregator, list[UsageEvent]], Awaitable[None]]
"""Receives what a worker counted since its last delta, and the events to take back."""


class BackfillError(Exception):
    """A worker failed: the caller reads the history itself instead."""


class Worker:
    """One worker process and its pipes."""

    def __init__(self, index: int, request: bytes) -> None:
        self.index = index
        self.process = subprocess.Popen(  # noqa: S603 - this Python, this module
            [sys.executable, *WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            start_new_session=True)
        self.read, self.send = frames((self.process.stdout, self.process.stdin))
        self.send(request)

    async def until(self, kind: str, on_delta: Callable[[list[Any]], Awaitable[None]]) -> list[Any]:
        while True:
            try:
                message = msgspec.msgpack.decode(await asyncio.to_thread(self.read))
            except (EOFError, OSError, msgspec.DecodeError):
                raise BackfillError(f"backfill worker {self.index} ended (exit code {self.process.poll()})") from None
            if message[0] == "error":
                raise BackfillError(f"backfill worker {self.index}: {message[1]}")
            if message[0] == "delta":
                await on_delta(message)
                continue
            if message[0] != kind:
                raise BackfillError(f"backfill worker {self.index} sent {message[0]!r}, not {kind!r}")
            return message

    def close(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                stream.close()  # type: ignore[union-attr]
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def run(spec: SourceConfig, config: Config, shares: Sequence[Share], patterns: list[str], counted: Counted,
              on_progress: Progress | None = None, delta_every: float | None = DELTA_EVERY) -> Backfilled:
    """Read the shares in worker processes (see the module docstring); what they count goes to
    ``counted`` as they go, every ``delta_every`` seconds (None: once, at the end), then the events
    to take back; returns where they stopped."""
    import pickle

    from tokentop.sources.jsonl import merge_states

    done = [0] * len(shares)
    totals = [share.size for share in shares]

    def delta_of(index: int) -> Callable[[list[Any]], Awaitable[None]]:
        async def take(message: list[Any]) -> None:
            _, state, retracted, read, total = message
            delta = Aggregator.from_state(aggstate.decode(state), config.plans, time.time,
                                          max_keys=config.limits.max_keys)
            await counted(delta, msgspec.convert(retracted, list[UsageEvent]))
            done[index], totals[index] = (totals[index], totals[index]) if read == total == 1 else (read, max(total, 1))
            if on_progress is not None:
                on_progress(sum(done), sum(totals))
        return take

    workers: list[Worker] = []
    try:
        for index, share in enumerate(shares):
            workers.append(Worker(index, pickle.dumps((spec, config, share.files, delta_every))))
        keys = await asyncio.gather(*(w.until("keys", delta_of(w.index)) for w in workers))
        for worker, losers in zip(workers, _losers([(m[1], m[2]) for m in keys])):
            worker.send(losers.tobytes())
        results = [msgspec.convert(m[1], WorkerResult)
                   for m in await asyncio.gather(*(w.until("done", delta_of(w.index)) for w in workers))]
    finally:
        for worker in workers:
            await asyncio.to_thread(worker.close)
    return Backfilled(merge_states([r.resume for r in results], patterns),
                      merge_statuses([r.status for r in results]), [e for r in results for e in r.taken_back],
                      sum(r.lost for r in results), max(r.peak_mib for r in results))


def _losers(shares: list[tuple[bytes, bytes]]) -> list[array]:
    """For each share, the keys another share counted with a better rank (on a tie: an earlier share)."""
    best: dict[int, tuple[int, int]] = {}  # key -> (rank, share)
    seen: list[tuple[array, array]] = []
    for index, (packed_keys, packed_ranks) in enumerate(shares):
        keys, ranks = array("Q"), array("q")
        keys.frombytes(packed_keys)
        ranks.frombytes(packed_ranks)
        seen.append((keys, ranks))
        for key, rank in zip(keys, ranks):
            kept = best.get(key)
            if kept is None or rank > kept[0]:
                best[key] = (rank, index)
    return [array("Q", (key for key in keys if best[key][1] != index)) for index, (keys, _) in enumerate(seen)]


def merge_statuses(statuses: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The status counters of the shares, summed (the newest event time, the last skip of any)."""
    reasons: dict[str, int] = {}
    for status in statuses:
        for reason, count in status.get("skip_reasons", {}).items():
            reasons[reason] = reasons.get(reason, 0) + count
    times = [s["last_event_at"] for s in statuses if s.get("last_event_at") is not None]
    return {"events": sum(s.get("events", 0) for s in statuses), "skipped": sum(s.get("skipped", 0) for s in statuses),
            "skip_reasons": reasons, "last_skip": next((s["last_skip"] for s in statuses if s.get("last_skip")), None),
            "last_event_at": max(times) if times else None}


async def backfill(source: Source, spec: SourceConfig, config: Config, counted: Counted, workers: int | None = None,
                   on_progress: Progress | None = None, shares: Sequence[Share] | None = None,
                   delta_every: float | None = DELTA_EVERY) -> Backfilled | str | None:
    """Read a fresh source's history in worker processes when it is worth it (``shares``: planned
    already), handing what they count to ``counted`` as they go: where they stopped (to :func:`adopt`),
    why it did not work out before anything was counted (the source then reads its history itself),
    or None (not worth it)."""
    shares = shares or plan(source, spec, workers)
    if not shares:
        return None
    started = False

    async def count(delta: Aggregator, retracted: list[UsageEvent]) -> None:
        nonlocal started
        started = True
        await counted(delta, retracted)

    try:
        return await run(spec, config, shares, list(source.patterns), count,  # type: ignore[attr-defined]
                         on_progress, delta_every)
    except (BackfillError, OSError, ValueError) as exc:
        if started:  # counts already taken cannot be taken out again: say so, loudly
            source.status.fail(f"reading the history in worker processes failed midway ({exc}); "
                               "restart tokentop with --workers 1")
            raise
        return f"{source.name}: history read in one process ({exc})"


def adopt(source: Source, result: Backfilled, aggregator: Aggregator) -> str | None:
    """Restore the source to where the workers stopped and take back what other shares counted better
    (call both at once, so a checkpoint never sees one without the other)."""
    from tokentop.checkpoint import restore_status

    for event in result.taken_back:
        aggregator.remove(event)
    if not source.restore(result.resume):  # (a state just made from the source's own: not expected)
        source.status.fail(f"the history read by worker processes cannot be resumed ({source.status.note}); "
                           "restart tokentop with --workers 1")
        return source.status.error
    restore_status(source.status, result.status)
    if source.status.last_event_at is not None:  # (read just now, by the workers)
        source.status.lag_seconds = max(0.0, time.time() - source.status.last_event_at)
    if result.lost:
        source.status.skip_reasons["duplicate_not_taken_back"] += result.lost
        source.status.skipped += result.lost
    return None


async def prefill(sources: Sequence[Source], specs: Sequence[SourceConfig], config: Config, aggregator: Aggregator,
                  workers: int | None = None) -> list[str]:
    """:func:`backfill` and :func:`adopt` each source in turn (the headless commands); the notices."""

    async def counted(delta: Aggregator, retracted: list[UsageEvent]) -> None:
        aggregator.merge(delta)
        for event in retracted:
            aggregator.remove(event)

    notices = []
    for source, spec in zip(sources, specs):
        result = await backfill(source, spec, config, counted, workers, delta_every=None)  # (no screen)
        notice = adopt(source, result, aggregator) if isinstance(result, Backfilled) else result
        if notice:
            notices.append(notice)
    return notices
