"""JSONL log files (a path or glob), read to their end or followed like ``tail -F``.

Each file is read through its own open descriptor, so a file renamed or deleted by rotation is
drained to its end before it is let go, and a file reachable under two names (a symlink and its
target, two globs) is read once. Files are recognised by their content (``fingerprint``): a copy of
content already read (copytruncate's copy matching the glob, a rotated file coming back under another
name, the same file after a restart) continues where reading stopped, a truncation that kept a prefix
continues after it, a new file is read from its start. ``files.FileSet`` keeps track of them; this
module reads them. See docs/sources-jsonl.md.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from tokentop.config import Config, ConfigError
from tokentop.core.event import SkipRecord, UsageEvent
from tokentop.core.lines import DEFAULT_MAX_LINE, LineDecoder
from tokentop.core.supersede import merge_exported
from tokentop.sources.base import (
    STATE_VERSION, Batch, Progress, SourceStatus, new_state, state_body, state_ignored,
)
from tokentop.sources.files import FileSet, FileState, Known, describe
from tokentop.sources.filewatch import DirectoryWatcher, Relevance, expand, watch_dirs
from tokentop.sources.options import Start, check_options, normaliser_for, role_of, start_of
from tokentop.sources.since import since_offset
from tokentop.sources.tailer import FileTail

OPTIONS = frozenset({"path", "start", "max_line_bytes", "poll_interval", "rotate_wait"})
MAX_BATCH = 20_000
"""Events per batch (and at most one chunk's more), so a big backfill reaches the consumer in steps.
A batch always ends at the end of a chunk: the resume state is then exactly what was yielded."""
ROTATE_WAIT = 5.0
"""Seconds a file renamed or deleted away is still read for late writes before it is let go."""


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
    paths = path if isinstance(path, list) else [path]
    if not paths or not all(isinstance(p, str) and p for p in paths):
        raise ConfigError(config.path, f"{where}.path", "must be a file path or glob, or a list of them")
    return JsonlSource(
        name,
        patterns=paths,
        role=role_of(name, options, config),
        decoder_normaliser=normaliser_for(name, options, config),
        start=start_of(name, options, config),
        max_line=int(_number(options, "max_line_bytes", DEFAULT_MAX_LINE, where, config)),
        poll_interval=_number(options, "poll_interval", 1.0, where, config),
        rotate_wait=_number(options, "rotate_wait", ROTATE_WAIT, where, config),
        clock=clock,
    )


def merge_states(states: Sequence[Mapping[str, Any]], patterns: list[str]) -> dict[str, Any]:
    """One resume state for a source with ``patterns`` whose files were read apart, each share by a
    source of its own (a parallel backfill): every file of every share, every share's superseding
    keys. ValueError when one is not a JSONL state."""
    if any(state.get("kind") != JsonlSource.kind for state in states):
        raise ValueError("not JSONL resume states")
    return new_state(JsonlSource.kind, patterns=patterns, files=[f for state in states for f in state["files"]],
                     decoder=merge_exported([state.get("decoder") for state in states]))


class JsonlState(msgspec.Struct):
    """A JSONL source's resume state (after ``kind``/``version``): what its patterns name, each file
    read (open or known) and the decoder's superseding keys."""

    patterns: list[str]
    files: list[FileState]
    decoder: dict[str, Any] | None = None


@dataclass(slots=True)
class ResumeParts:
    """A checked resume state, ready to apply."""

    known: list[Known]
    decoder: dict[str, Any] | None


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
        self.files = FileSet(max_line, self.status.skip, self.counters)
        self._watcher: DirectoryWatcher | None = None
        self._since: float | None = start.since
        self._follow = False
        self._history: list[int] | None = None
        """[done, total] bytes of the history being read (None before the first sweep)."""
        self._caught_up = False
        self._probe: Any = None

    @property
    def live(self) -> dict[Any, FileTail]:
        return self.files.live

    @property
    def retired(self) -> dict[Any, FileTail]:
        return self.files.retired

    # -- the Source interface -------------------------------------------------------------------

    async def batches(self, follow: bool) -> AsyncIterator[Batch]:
        self._follow = self.files.indexed = follow
        self.files.by_block = self.decoder.normaliser.line_needle is not None
        self._history = [0, 0]
        try:
            self._sweep(first=True)
            async for batch in self._read_all(final=not follow):
                yield batch
            self._since, self._caught_up = None, True
            self._show()
            if not follow:
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
        self.files.close()

    @property
    def progress(self) -> Progress | None:
        if self._history is None:
            return None
        done, total = self._history
        total = max(done, total)
        return Progress(total if self._caught_up else done, total, "bytes")

    def checkpoint(self) -> dict[str, Any]:
        """Each file's fingerprint, device/inode hint and offset (where its next unread line starts),
        files read before and let go, and the decoder's superseding keys; see docs/sources-jsonl.md."""
        return new_state(self.kind, patterns=self.patterns, files=self.files.state(),
                         decoder=self.decoder.normaliser.superseding_state())

    def restore(self, state: Mapping[str, Any]) -> bool:
        parsed = self.parse_state(state)
        if isinstance(parsed, str):
            return state_ignored(self.status, parsed)
        self.apply_state(parsed)
        return True

    def parse_state(self, state: Any) -> ResumeParts | str:
        """A resume state checked and parsed, nothing applied yet; a string says why it does not fit."""
        if not isinstance(state, Mapping) or state.get("kind") != self.kind or state.get("version") != STATE_VERSION:
            probe = SourceStatus(self.name, self.kind)
            state_body(state, self.kind, probe)
            return (probe.note or "").removeprefix("resume state ignored: ")
        try:
            resumed = msgspec.convert({k: v for k, v in state.items() if k not in ("kind", "version")}, JsonlState)
            known = self.files.parse(resumed.files)
        except (msgspec.ValidationError, ValueError) as exc:
            return f"not a JSONL state ({exc})"
        if resumed.patterns != self.patterns:
            return f"it is of {' '.join(resumed.patterns)[:100]}"
        fresh = self.decoder.normaliser.fresh()
        try:  # (into a throwaway first: this source's own state is touched only if it fits)
            if resumed.decoder is not None:
                fresh.restore_superseding(resumed.decoder)
        except ValueError as exc:
            return str(exc)
        return ResumeParts(known, resumed.decoder)

    def apply_state(self, parts: ResumeParts) -> None:
        if parts.decoder is not None:
            self.decoder.normaliser.restore_superseding(parts.decoder)
        self.files.restore(parts.known)

    # -- finding files ----------------------------------------------------------------------------

    def _sweep(self, first: bool) -> None:
        """Match the patterns again (see ``FileSet.sweep``); files present at the first sweep that no
        resume state names are placed by the start policy."""
        for tail in self.files.sweep(self.patterns, self._position if first else None):
            if not self._caught_up and self._history is not None:
                self._history[1] += max(0, os.fstat(tail.fd or -1).st_size - tail.pos)

    def _position(self, tail: FileTail) -> None:
        mode = self.start.mode
        if mode == "end" and self._follow:
            tail.start_at_end()
        elif mode == "tail" and self._follow:
            tail.start_at_last_lines(self.start.lines)
        elif mode == "since" and self.start.since is not None:
            offset = since_offset(tail.fd or -1, os.fstat(tail.fd or -1).st_size, self.start.since, self._time_of)
            if offset is None:
                self.counters["skipped_files"] += 1
                tail.start_at_end()
            else:
                tail.start_at(offset)

    def _time_of(self, line: bytes) -> float | None:
        """The time of the record a line holds, read by a normaliser of its own (the source's state is
        untouched; one for all probes: building one compiles its readers). A probe whose record it
        absorbs (a key seen at an earlier probe) gives no time: the search then reads a little more."""
        if self._probe is None:
            self._probe = self.decoder.normaliser.fresh()
        try:
            events = self._probe.events_from_line(line.rstrip(b"\r"), self.clock())
        except (SkipRecord, ValueError):
            return None
        return events[0].ts if events and not events[0].time_inferred else None

    # -- reading ----------------------------------------------------------------------------------

    async def _read_all(self, final: bool) -> AsyncIterator[Batch]:
        """Read every changed file to its current end: files rotated away first (their lines came first)."""
        events: list[UsageEvent] = []
        by_block = self.decoder.normaliser.line_needle is not None
        for tail in self.files.tails():
            if not tail.dirty:
                continue
            self.decoder.set_stream(tail.id)  # (stateful formats keep each file's context apart)
            try:
                while (got := tail.read_buffer()) is not None:
                    buffer, start = got
                    index = tail.index
                    on_lines = None if index is None or by_block else _line_sink(index, buffer, start)
                    found, rest = self.decoder.decode_chunk(buffer, self.clock(), on_lines)
                    if index is not None and by_block:
                        index.add_block(start, buffer[: len(buffer) - len(rest)])
                    tail.keep_rest(rest)
                    tail.last_growth = time.monotonic()
                    if not self._caught_up and self._history is not None:
                        self._history[0] = self._history[0] + len(buffer) - len(rest)
                    events += self._since_start(found)
                    if len(events) >= MAX_BATCH:
                        yield self._batch(events)
                        events = []
                    await asyncio.sleep(0)  # let the consumer and the UI run between chunks
                if final:
                    events += self._decode([tail.take_unterminated()])
                else:
                    tail.note_read()
                tail.dirty = False
            except OSError as exc:
                self.files.problems[tail.path] = describe(exc, tail.path)
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
        events: list[UsageEvent] = []
        for tail in self.files.drained(self.rotate_wait):
            self.decoder.set_stream(tail.id)
            events += self._decode([tail.take_unterminated()])
            self.files.let_go(tail)
        return events

    def _show(self) -> None:
        """Reflect files and problems in the status line."""
        files = len(self.live) + len(self.retired)
        notes = [f"following {files} file{'s' if files != 1 else ''}"] if files else [
            f"waiting for {' '.join(self.patterns)} to appear"]
        notes += [f"{n} {k.replace('_', ' ')}" for k, n in sorted(self.counters.items()) if k != "files_opened"]
        if self.files.held:
            notes.append(f"{len(self.files.held)} copies of unread content held back")
        if self._watcher is not None and self._watcher.problem:
            notes.append(self._watcher.problem)
        self.status.detail = "; ".join(notes)
        if self.files.notes:
            self.status.note = self.files.notes[-1][:300]
        problems = self.files.problems
        if problems:
            self.status.fail("; ".join(sorted(problems.values()))[:300])
        else:
            self.status.recover()
            if not files:
                self.status.wait_for(" ".join(self.patterns))
            elif self.status.state in ("starting", "stale", "waiting"):
                self.status.state = "ok"


def _line_sink(index: Any, buffer: bytes, start: int) -> Callable[[list[bytes]], None]:
    """Where the decoder hands the complete lines of ``buffer`` (read from ``start``) to be indexed."""
    return lambda lines: index.add_lines(start, lines, start + buffer.rfind(b"\n") + 1)
