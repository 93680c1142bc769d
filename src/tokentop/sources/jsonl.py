"""JSONL log files (a path or glob), read to their end or followed like ``tail -F``.

Files are identified by (st_dev, st_ino) and read through their own open descriptor, so a file renamed
or deleted by rotation is drained to its end before it is let go, a new file at the same name is read
from its start, and a file reachable under two names (a symlink and its target, two globs) is read
once. A file that shrinks below what was read, or whose first bytes changed, was truncated
(copytruncate) and is read again from the start. See docs/sources-jsonl.md.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tokentop.config import Config, ConfigError
from tokentop.core.event import UsageEvent
from tokentop.core.lines import DEFAULT_MAX_LINE, LineDecoder
from tokentop.core.timeparse import parse_time
from tokentop.sources.base import Batch, SourceStatus
from tokentop.sources.filewatch import DirectoryWatcher, Relevance, expand, matching_files, watch_dirs
from tokentop.sources.options import check_options, normaliser_for, role_of
from tokentop.sources.tailer import FileId, FileTail, open_readonly

OPTIONS = frozenset({"path", "start", "max_line_bytes", "poll_interval", "rotate_wait"})
MAX_BATCH = 20_000
"""Events per batch at most, so a big backfill reaches the consumer in steps."""
ROTATE_WAIT = 5.0
"""Seconds a file renamed or deleted away is still read for late writes before it is let go."""


@dataclass(frozen=True, slots=True)
class Start:
    """Where following begins in the files present at start: ``end``, ``beginning``, the last
    ``lines`` lines, or every record at or after ``since``."""

    mode: str = "end"
    lines: int = 0
    since: float | None = None


def parse_start(value: Any, where: str, config: Config) -> Start:
    """``"end"``, ``"beginning"``, ``"tail:N"`` (or an integer N), ``"since:TIME"`` (epoch or ISO)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return Start("tail", lines=value)
    if value in ("end", "beginning"):
        return Start(value)
    if isinstance(value, str) and value.startswith("tail:") and value[5:].isdigit():
        return Start("tail", lines=int(value[5:]))
    if isinstance(value, str) and value.startswith("since:"):
        try:
            since = parse_time(value[6:])
        except ValueError:
            since = None
        if since is not None:
            return Start("since", since=since)
    raise ConfigError(config.path, where, "must be 'end', 'beginning', 'tail:N' or 'since:TIME'")


def _number(options: Mapping[str, Any], key: str, default: float, where: str, config: Config) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(config.path, f"{where}.{key}", "must be a positive number")
    return float(value)


def make_source(name: str, options: Mapping[str, Any], config: Config,
                clock: Callable[[], float] = time.time) -> JsonlSource:
    where = f"sources.{name}"
    check_options(name, options, OPTIONS, config)
    path = options.get("path")
    if not isinstance(path, str) or not path:
        raise ConfigError(config.path, f"{where}.path", "must be a file path or glob")
    return JsonlSource(
        name,
        patterns=[path],
        role=role_of(name, options, config),
        decoder_normaliser=normaliser_for(name, options, config),
        start=parse_start(options.get("start", "end"), f"{where}.start", config),
        max_line=int(_number(options, "max_line_bytes", DEFAULT_MAX_LINE, where, config)),
        poll_interval=_number(options, "poll_interval", 1.0, where, config),
        rotate_wait=_number(options, "rotate_wait", ROTATE_WAIT, where, config),
        clock=clock,
    )


class JsonlSource:
    kind = "jsonl"

    def __init__(
        self, name: str, *, patterns: list[str], role: str = "primary", decoder_normaliser: Any,
        start: Start = Start(), max_line: int = DEFAULT_MAX_LINE, poll_interval: float = 1.0,
        rotate_wait: float = ROTATE_WAIT, clock: Callable[[], float] = time.time,
    ) -> None:
        self.name, self.role = name, role
        self.clock = clock
        """Stamps read times (events without a time of their own); wall-clock file times use time/monotonic."""
        self.patterns = [expand(p) for p in patterns]
        self.status = SourceStatus(name, self.kind)
        self.decoder = LineDecoder(decoder_normaliser, self.status.skip, max_line)
        self.start, self.max_line = start, max_line
        self.poll_interval, self.rotate_wait = poll_interval, rotate_wait
        self.counters: Counter[str] = Counter()
        """``truncations``, ``rotations`` (a name now points elsewhere or nowhere), ``files_opened``."""
        self.live: dict[FileId, FileTail] = {}
        self.retired: dict[FileId, FileTail] = {}
        self.problems: dict[str, str] = {}
        self._watcher: DirectoryWatcher | None = None
        self._since: float | None = start.since

    # -- the Source interface -------------------------------------------------------------------

    async def batches(self, follow: bool) -> AsyncIterator[Batch]:
        try:
            self._sweep(first=follow)
            async for batch in self._read_all(final=not follow):
                yield batch
            self._since = None
            self._show()
            if not follow:
                if not self.live and not self.problems:
                    self.status.fail(f"no file matches {' '.join(self.patterns)}")
                return
            relevance = Relevance(self.patterns)
            self._watcher = DirectoryWatcher(relevance, asyncio.Event())
            while True:
                relevance.targets = frozenset(os.path.realpath(t.path) for t in self.live.values())
                self._watcher.watch(watch_dirs(self.patterns, relevance.targets))
                await self._watcher.until_change(self.poll_interval)  # a change, or time to sweep
                self._sweep(first=False)
                async for batch in self._read_all(final=False):
                    yield batch
                leftovers = self._let_go_of_drained()
                if leftovers:
                    yield self._batch(leftovers)
                self._show()
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
        for tail in [*self.retired.values(), *self.live.values()]:
            tail.close()
        self.live.clear()
        self.retired.clear()

    # -- finding files ----------------------------------------------------------------------------

    def _sweep(self, first: bool) -> None:
        """Match the patterns again: open new files, retire files no name points to any more."""
        seen: set[FileId] = set()
        self.problems = {}
        for path in matching_files(self.patterns):
            tail = self._tail_for(path, first)
            if tail is not None:
                seen.add(tail.id)
        for file_id in [i for i in self.live if i not in seen]:
            tail = self.live.pop(file_id)
            tail.retired_at = tail.last_growth = time.monotonic()
            self.retired[file_id] = tail
            self.counters["rotations"] += 1

    def _tail_for(self, path: str, first: bool) -> FileTail | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self.problems.pop(path, None)
            return None
        except OSError as exc:
            self.problems[path] = _describe(exc, path)
            return None
        if not stat.S_ISREG(st.st_mode):
            if path in self.patterns:
                self.problems[path] = f"not a regular file: {path}"
            return None
        file_id = (st.st_dev, st.st_ino)
        if file_id in self.live:
            self.live[file_id].path = path
            return self.live[file_id]
        if file_id in self.retired:  # renamed to a name the patterns also match: still live
            tail = self.retired.pop(file_id)
            tail.path, tail.retired_at = path, None
            self.live[file_id] = tail
            return tail
        try:
            tail = FileTail(path, open_readonly(path), self.max_line, self.status.skip)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.problems[path] = _describe(exc, path)
            return None
        self.problems.pop(path, None)
        self.counters["files_opened"] += 1
        if first:
            self._position(tail)
        tail.check_rewritten()  # records the first bytes, to notice a later rewrite
        tail.last_growth = time.monotonic()
        self.live[tail.id] = tail
        return tail

    def _position(self, tail: FileTail) -> None:
        if self.start.mode == "end":
            tail.start_at_end()
        elif self.start.mode == "tail":
            tail.start_at_last_lines(self.start.lines)

    # -- reading ----------------------------------------------------------------------------------

    async def _read_all(self, final: bool) -> AsyncIterator[Batch]:
        """Read every file to its current end: files rotated away first (their lines came first)."""
        events: list[UsageEvent] = []
        for tail in [*self.retired.values(), *self.live.values()]:
            self.decoder.set_stream(tail.id)  # (stateful formats keep each file's context apart)
            try:
                if not final and tail.check_rewritten():
                    self.counters["truncations"] += 1
                while (buffer := tail.read_buffer()) is not None:
                    tail.last_growth = time.monotonic()
                    found, rest = self.decoder.decode_chunk(buffer, self.clock())
                    tail.keep_rest(rest)
                    events += self._since_start(found)
                    while len(events) >= MAX_BATCH:
                        yield self._batch(events[:MAX_BATCH])
                        events = events[MAX_BATCH:]
                    await asyncio.sleep(0)  # let the consumer and the UI run between chunks
                if final:
                    events += self._decode([tail.take_unterminated()])
            except OSError as exc:
                self.problems[tail.path] = _describe(exc, tail.path)
        if events:
            yield self._batch(events)

    def _decode(self, lines: list[bytes]) -> list[UsageEvent]:
        return self._since_start(self.decoder.decode(lines, self.clock()))

    def _since_start(self, events: list[UsageEvent]) -> list[UsageEvent]:
        if self._since is not None:
            events = [e for e in events if e.ts >= self._since]
        return events

    def _batch(self, events: list[UsageEvent]) -> Batch:
        self.status.saw(events, self.clock())
        # Superseded events (stream chunks, transcript lines) must be taken back, or they count twice.
        return Batch(events=events, retracted=self.decoder.take_retractions())

    def _let_go_of_drained(self) -> list[UsageEvent]:
        """Close rotated files nobody wrote to for ``rotate_wait`` seconds; a last record written
        without its newline is decoded then (a half-written one fails to parse and is counted)."""
        now = time.monotonic()
        events: list[UsageEvent] = []
        for file_id, tail in list(self.retired.items()):
            if now - tail.last_growth >= self.rotate_wait:
                self.decoder.set_stream(tail.id)
                events += self._decode([tail.take_unterminated()])
                tail.close()
                del self.retired[file_id]
        return events

    def _show(self) -> None:
        """Reflect files and problems in the status line."""
        files = len(self.live) + len(self.retired)
        notes = [f"following {files} file{'s' if files != 1 else ''}"] if files else [
            f"waiting for {' '.join(self.patterns)}"]
        notes += [f"{n} {k}" for k, n in sorted(self.counters.items()) if k != "files_opened"]
        if self._watcher is not None and self._watcher.problem:
            notes.append(self._watcher.problem)
        self.status.detail = "; ".join(notes)
        if self.problems:
            self.status.fail("; ".join(sorted(self.problems.values()))[:300])
        else:
            self.status.recover()
            if not files and self.status.state in ("starting", "ok"):
                self.status.state = "stale"
            elif files and self.status.state in ("starting", "stale"):
                self.status.state = "ok"


def _describe(exc: OSError, path: str) -> str:
    if isinstance(exc, PermissionError):
        return f"permission denied: {path}"
    if isinstance(exc, IsADirectoryError):
        return f"is a directory: {path}"
    return f"cannot read {path}: {exc.strerror or exc}"

