"""Files read before and no longer open: recognised by content when they (or copies of them) show up.

A followed file that is let go (rotated out of the patterns and drained), whose content was replaced
by a truncation (copytruncate), or that a resume state names, is remembered as a :class:`Known`
stream: its fingerprint, how far it was read and a hash of the bytes just before that point. A file
found later whose fingerprint matches (a copytruncate copy matching the glob, a rotated file moved or
copied back under another name, the same file after a restart) continues where the stream was read
to, so no line is read twice. The device/inode pair is only a hint: it picks among streams with the
same first lines, and a file without a complete line yet (no fingerprint) is matched by it alone.
"""

from __future__ import annotations

import os
import stat
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from tokentop.sources import fingerprint
from tokentop.sources.filewatch import matching_files
from tokentop.sources.fingerprint import Fingerprint
from tokentop.sources.tailer import FileId, FileTail, SkipSink, mark_of, open_readonly

MAX_KNOWN = 4096
"""Streams remembered at most (the oldest are forgotten first)."""
RESUME_INDEX = 256 * 1024
"""Bytes before a resumed offset whose lines are indexed (see ``FileTail.index_before``)..."""
RESUME_INDEX_AGE = 86_400.0
"""... in files modified this recently (the ones still written to, that a logger may truncate)."""


@dataclass(slots=True)
class Known:
    """A content stream read to ``offset`` (see ``FileTail.state`` for ``counted``/``discarding``)."""

    path: str
    id: FileId
    fp: Fingerprint
    offset: int
    mark: int | None = None
    """Hash of the ``MARK`` bytes before ``offset`` (None: at 0)."""
    counted: int = 0
    discarding: bool = False

    @classmethod
    def of(cls, tail: FileTail) -> Known:
        """What an open file was read to (as it is let go or truncated, or for a resume state). The
        mark taken at the last read is used when it is at the offset: after a truncation the file no
        longer holds those bytes."""
        state = tail.state()
        offset = state["offset"]
        mark = tail.mark[1] if tail.mark is not None and tail.mark[0] == offset else mark_at(tail.fd, offset)
        return cls(tail.path, tail.id, tail.fp, offset, mark, state.get("counted", 0), state.get("discarding", False))

    def holds(self, fd: int) -> bool:
        """Whether the open file holds this stream's bytes just before ``offset`` (it was not
        changed there since it was read, or is a copy that reaches at least that far)."""
        return self.mark is None or mark_at(fd, self.offset) == self.mark

    def to_json(self) -> dict[str, Any]:
        state: dict[str, Any] = {"path": self.path, "dev": self.id[0], "ino": self.id[1],
                                 "fp": fingerprint.to_json(self.fp), "offset": self.offset, "mark": self.mark}
        if self.counted:
            state["counted"] = self.counted
        if self.discarding:
            state["discarding"] = True
        return state


def mark_at(fd: int | None, offset: int) -> int | None:
    """Hash of the ``MARK`` bytes before ``offset`` of an open file (None at 0 or when closed)."""
    if fd is None or offset <= 0:
        return None
    return mark_of(fd, offset)


class KnownFiles:
    """The known streams, findable by fingerprint (and by device/inode for unfingerprinted ones)."""

    def __init__(self) -> None:
        self._streams: dict[int, Known] = {}
        self._by_key: dict[object, list[int]] = {}
        """First fingerprint mark (or device/inode without one) -> serials, oldest first."""
        self._serial = 0

    def __len__(self) -> int:
        return len(self._streams)

    def __iter__(self) -> Iterator[Known]:
        return iter(list(self._streams.values()))

    def add(self, known: Known) -> None:
        self._serial += 1
        self._streams[self._serial] = known
        self._by_key.setdefault(_key(known.fp, known.id), []).append(self._serial)
        while len(self._streams) > MAX_KNOWN:
            self._remove(next(iter(self._streams)))

    def take(self, fp: Fingerprint, file_id: FileId) -> Known | None:
        """The stream a file with fingerprint ``fp`` (and device/inode ``file_id``) continues, removed
        from the known ones; the one with the same device/inode is preferred, then the most recent."""
        found = None
        for serial in reversed(self._by_key.get(_key(fp, file_id), ())):
            known = self._streams[serial]
            if not fp or fingerprint.same(known.fp, fp):
                if found is None or known.id == file_id:
                    found = serial
                if known.id == file_id:
                    break
        return None if found is None else self._remove(found)

    def _remove(self, serial: int) -> Known:
        known = self._streams.pop(serial)
        key = _key(known.fp, known.id)
        serials = self._by_key[key]
        serials.remove(serial)
        if not serials:
            del self._by_key[key]
        return known


def _key(fp: Fingerprint, file_id: FileId) -> object:
    return fp[0] if fp else file_id


class FileSet:
    """The files a JSONL source reads: open ones (``live``: a pattern names them; ``retired``: rotated
    or deleted away, still drained), known ones (not open), and copies held back. Finds what each
    matching path is, notices truncation, and lets drained files go."""

    def __init__(self, max_line: int, on_skip: SkipSink, counters: Counter[str]) -> None:
        self.max_line, self.on_skip, self.counters = max_line, on_skip, counters
        self.indexed = False
        """Keep line indexes (while following: a truncation keeping a prefix is then resolved)."""
        self.by_block = False
        """The format reads only some lines (a needle): chunks are indexed as blocks, not lines."""
        self.live: dict[FileId, FileTail] = {}
        self.retired: dict[FileId, FileTail] = {}
        self.known = KnownFiles()
        self.held: dict[FileId, str] = {}
        """Copies of a live file's content not read yet (copytruncate's copy before the truncation)."""
        self.problems: dict[str, str] = {}
        self.notes: list[str] = []
        self._first: dict[object, list[FileTail]] | None = None

    def tails(self) -> list[FileTail]:
        """Open files, those rotated away first (their lines came first)."""
        return [*self.retired.values(), *self.live.values()]

    # -- a sweep ------------------------------------------------------------------------------------

    def sweep(self, patterns: list[str], position: Callable[[FileTail], None] | None) -> list[FileTail]:
        """Match the patterns again: notice truncations, open new files (continuing a known stream,
        else placed by ``position``, or read from their start), retire files no name points to any
        more. Returns the files opened."""
        self.problems = {}
        self.look()
        self._first = None
        seen: set[FileId] = set()
        opened: list[FileTail] = []
        self.held = {}
        for path in matching_files(patterns):
            tail = self._tail_for(path, patterns, position, opened)
            if tail is not None:
                seen.add(tail.id)
        for file_id in [i for i in self.live if i not in seen]:
            tail = self.live.pop(file_id)
            tail.retired_at = tail.last_growth = time.monotonic()
            self.retired[file_id] = tail
            self.counters["rotations"] += 1
        return opened

    def look(self) -> None:
        """Check each open file for truncation (and mark the changed ones to be read)."""
        for tail in self.tails():
            try:
                change = tail.look()
            except OSError as exc:
                self.problems[tail.path] = describe(exc, tail.path)
                continue
            if change is not None:
                tail.dirty = True
            if change == "truncated":
                self._truncated(tail)

    def _truncated(self, tail: FileTail) -> None:
        """Read on after what the truncation kept. When that changes what the file is (its first
        lines), what was read of the old content is remembered, so a copy of it (copytruncate's)
        continues where reading stopped."""
        old = Known.of(tail) if tail.fp else None
        kept = tail.kept()
        if old is not None and (kept is None or kept < old.fp[-1][0]):
            self.known.add(old)
        if kept is None:
            self.notes.append(f"{tail.path} was truncated below what tokentop remembers of it: read on "
                              "from its end (lines written since the truncation may be missed)")
        tail.restart(kept)
        self.counters["truncations"] += 1

    def _tail_for(self, path: str, patterns: list[str], position: Callable[[FileTail], None] | None,
                  opened: list[FileTail]) -> FileTail | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.problems[path] = describe(exc, path)
            return None
        if not stat.S_ISREG(st.st_mode):
            if path in patterns:
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
            tail = FileTail(path, open_readonly(path), self.max_line, self.on_skip, self.indexed)
            placed = self._place(tail, position)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.problems[path] = describe(exc, path)
            return None
        if not placed:
            tail.close()
            self.held[file_id] = path
            return None
        self.counters["files_opened"] += 1
        tail.last_growth = time.monotonic()
        self.live[file_id] = tail
        opened.append(tail)
        if self._first is not None and tail.fp:
            self._first.setdefault(tail.fp[0], []).append(tail)
        return tail

    def _place(self, tail: FileTail, position: Callable[[FileTail], None] | None) -> bool:
        """Where a newly opened file is read from; False: it is a copy of a live file's content that
        is not read yet (held back, looked at again next sweep)."""
        fp = tail.identify()
        known = self.known.take(fp, tail.id)
        if known is not None:
            size = os.fstat(tail.fd or -1).st_size
            if known.offset > size and known.id != tail.id:
                tail.start_at_end()  # a copy made before reading went further: all of it was read
                return True
            if known.offset <= size and known.holds(tail.fd or -1):
                tail.resume(known.offset, known.counted, known.discarding)
                if not self.by_block and time.time() - os.fstat(tail.fd or -1).st_mtime < RESUME_INDEX_AGE:
                    tail.index_before(RESUME_INDEX)
                return True
            if known.id == tail.id:  # the same file, changed below where it was read to since
                self.notes.append(f"{tail.path} changed while it was not followed: read on from its end")
                tail.start_at_end()
                self.counters["truncations"] += 1
                return True
        copy_of = self._live_original(tail)
        if copy_of is not None:
            if copy_of.offset < tail.lines_end():
                return False
            tail.start_at_end()  # all of it was read in the original
            return True
        if position is not None:
            position(tail)
        return True

    def _live_original(self, tail: FileTail) -> FileTail | None:
        """An open file that ``tail`` is a copy of (same first lines, same bytes where the copy ends)."""
        if not tail.fp:
            return None
        end = tail.lines_end()
        for other in self._by_first().get(tail.fp[0], ()):
            if fingerprint.same(other.fp, tail.fp) and other.fd is not None:
                if os.fstat(other.fd).st_size >= end and mark_at(other.fd, end) == mark_at(tail.fd, end):
                    return other
        return None

    def _by_first(self) -> dict[object, list[FileTail]]:
        """Open files by their first fingerprint mark (built once per sweep: a tree of thousands of
        files must not compare every new file with every open one)."""
        if self._first is None:
            self._first = {}
            for other in self.tails():
                if other.fp:
                    self._first.setdefault(other.fp[0], []).append(other)
        return self._first

    # -- letting go ---------------------------------------------------------------------------------

    def drained(self, rotate_wait: float) -> list[FileTail]:
        """Rotated files nobody wrote to for ``rotate_wait`` seconds (to be let go)."""
        now = time.monotonic()
        return [t for t in self.retired.values() if now - t.last_growth >= rotate_wait]

    def let_go(self, tail: FileTail) -> None:
        """Close a drained file; its content stays known (a copy of it showing up is not read again)."""
        self.known.add(Known.of(tail))
        tail.close()
        self.retired.pop(tail.id, None)

    def close(self) -> None:
        """Close every file; what each was read to stays known (for a resume state taken after)."""
        for tail in self.tails():
            if tail.fd is not None:
                self.known.add(Known.of(tail))
            tail.close()
        self.live.clear()
        self.retired.clear()

    # -- resume state -------------------------------------------------------------------------------

    def state(self) -> list[dict[str, Any]]:
        """The known streams, then the open files (restored in this order: an open file is the most
        recent of its content, preferred when several streams match)."""
        return [k.to_json() for k in self.known] + [Known.of(t).to_json() for t in self.tails()]

    @staticmethod
    def parse(files: list[FileState]) -> list[Known]:
        """The streams of a resume state; ValueError if a fingerprint is not one."""
        return [Known(f.path, (f.dev, f.ino), fingerprint.from_json(f.fp), f.offset, f.mark, f.counted, f.discarding)
                for f in files]

    def restore(self, known: list[Known]) -> None:
        for stream in known:
            self.known.add(stream)


class FileState(msgspec.Struct, forbid_unknown_fields=False):
    """One file of a JSONL resume state (see ``Known.to_json``)."""

    path: str
    dev: int
    ino: int
    fp: list[tuple[int, str]]
    offset: Annotated[int, msgspec.Meta(ge=0)]
    mark: int | None = None
    counted: Annotated[int, msgspec.Meta(ge=0)] = 0
    discarding: bool = False


def describe(exc: OSError, path: str) -> str:
    if isinstance(exc, PermissionError):
        return f"permission denied: {path}"
    if isinstance(exc, IsADirectoryError):
        return f"is a directory: {path}"
    return f"cannot read {path}: {exc.strerror or exc}"
