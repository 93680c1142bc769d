"""Reading one open log file from an offset: whole lines only, in big chunks, surviving truncation.

A :class:`FileTail` owns one open file descriptor, so it keeps reading the same file (inode) even after
the name it was found under is renamed or deleted; the follower decides when to let it go. The file
is only ever opened read-only. What the file is (its content) is its fingerprint (``fingerprint``);
what a truncation kept of it is found with the hashes of the lines read (``lineindex``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import xxhash

from tokentop.core.event import SkipRecord
from tokentop.core.lines import glued_at
from tokentop.sources import fingerprint
from tokentop.sources.fingerprint import Fingerprint
from tokentop.sources.lineindex import LineIndex

CHUNK = 1 << 20
"""Bytes read per call: big reads keep backfill close to the bare parse speed."""
BOM = b"\xef\xbb\xbf"
"""A UTF-8 byte order mark: skipped at the start of a file (some Windows writers put one there)."""
MARK = 4096
"""Bytes before the read offset whose hash shows a file rewritten past the offset (not only grown), and
that, with the fingerprint, say a file holds a known stream's content up to an offset. Records of a log
end alike (the same trailing keys), so a few dozen bytes also match in files that only share their
first lines -- a Claude Code session resumed from another starts with copies of its turns and then
goes on with its own: with 64 bytes such a file was taken for a copy and its own requests never read.
Several whole records' worth carries their times and ids."""
_BACK_BLOCK = 64 * 1024

FileId = tuple[int, int]
SkipSink = Callable[[SkipRecord], None]


def open_readonly(path: str) -> int:
    return os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))


class FileTail:
    """One file being read. ``pos`` is the next byte to read; bytes after the last newline wait in
    ``pending`` until their newline arrives (a line is never decoded half-written).

    ``indexed``: keep a :class:`LineIndex` of what was read, so that a truncation keeping a prefix is
    resolved to the line after it (while following; a single read to the end needs none)."""

    def __init__(self, path: str, fd: int, max_line: int, on_skip: SkipSink, indexed: bool = False) -> None:
        st = os.fstat(fd)
        self.path = path
        self.fd: int | None = fd
        self.id: FileId = (st.st_dev, st.st_ino)
        self.max_line = max_line
        self.on_skip = on_skip
        self.pos = 0
        self.pending = b""
        self.discarding = False
        """Inside an over-long line: drop bytes until the next newline."""
        self.counted = 0
        """Length of an unterminated last line already decoded as a record (a read to the end): when
        its newline arrives it is not decoded again; if it grew, it was half-written and is."""
        self.resync = False
        """A truncation cut a line: the next line may be the kept fragment followed by a new record."""
        self.fp: Fingerprint = fingerprint.NONE
        self.fp_final = False
        self.index = LineIndex() if indexed else None
        self._seen: tuple[int, int] = (-1, -1)
        """(size, mtime_ns) at the last look: a file that shows the same was not written to."""
        self.mark: tuple[int, int] | None = None
        """(offset, hash of the ``MARK`` bytes before it) after the last read to the end: the offset
        is where the complete lines read end. A file changed there was rewritten, not only grown."""
        self.dirty = True
        """Changed since it was last read to its end (see :meth:`look`)."""
        self.retired_at: float | None = None
        """When the name stopped pointing here (rotated away or deleted); the rest is still drained."""
        self.last_growth = 0.0

    @property
    def offset(self) -> int:
        """Where the next unread line starts (the pending partial line is read again on a resume)."""
        return self.pos - len(self.pending)

    # -- identity -----------------------------------------------------------------------------------

    def identify(self) -> Fingerprint:
        """The fingerprint, taken again while the file is shorter than what a fingerprint covers."""
        if not self.fp_final:
            self.fp, self.fp_final = fingerprint.of_fd(self._fd())
        return self.fp

    # -- where to start -------------------------------------------------------------------------

    def start_at(self, offset: int) -> None:
        """Start at ``offset``, the start of a line (or 0)."""
        self.seek(offset)

    def start_at_end(self) -> None:
        """Start after the last complete line, so a line being written now is read once complete."""
        size = self._size()
        start = self._line_start_before(size, 0, bounded=True)
        self.seek(size if start is None else start)
        self.discarding = start is None and size > 0  # inside a line longer than max_line

    def start_at_last_lines(self, count: int) -> None:
        """Start at the first of the last ``count`` complete lines."""
        size = self._size()
        end = self._line_start_before(size, 0, bounded=True)
        if end is None:
            self.seek(size)
            self.discarding = size > 0
            return
        start = end if count <= 0 else self._line_start_before(end - 1, count - 1, bounded=False)
        self.seek(end if start is None else start)

    def seek(self, offset: int, resync: bool = False) -> None:
        """Read on from ``offset`` (the start of a line), forgetting any partial line."""
        self.pos, self.pending, self.discarding, self.counted, self.resync = offset, b"", False, 0, resync
        self.mark = None
        if self.index is not None and offset != self.index.end:
            self.index = LineIndex(offset, from_start=offset <= len(BOM))

    def resume(self, offset: int, counted: int, discarding: bool) -> None:
        """Continue where a resume state left off (see :meth:`state`)."""
        self.seek(offset)
        self.counted, self.discarding = counted, discarding

    def index_before(self, limit: int) -> None:
        """Index the lines in the ``limit`` bytes before the offset (already read, by a previous run),
        so that a truncation below where this run began is still resolved exactly."""
        end = self.offset
        if self.index is None or end <= 0:
            return
        start = max(0, end - limit)
        data = os.pread(self._fd(), end - start, start)
        if start > 0:
            first = data.find(b"\n") + 1
            if first == 0:
                return
            data, start = data[first:], start + first
        elif data[:3] == BOM:
            data, start = data[3:], 3
        if not data.endswith(b"\n"):
            return
        self.index = LineIndex(start, from_start=start <= len(BOM))
        self.index.add_lines(start, data[:-1].split(b"\n"), end)

    def _line_start_before(self, end: int, skip_newlines: int, bounded: bool) -> int | None:
        """The offset just after the newline found by walking back from ``end`` past ``skip_newlines``
        newlines; 0 when the file start is reached first; None (if ``bounded``) when no newline is
        within max_line bytes of ``end``."""
        scanned, block_end = 0, end
        while block_end > 0:
            block_start = max(0, block_end - _BACK_BLOCK)
            block = os.pread(self._fd(), block_end - block_start, block_start)
            at = len(block)
            while True:
                at = block.rfind(b"\n", 0, at)
                if at < 0:
                    break
                if skip_newlines == 0:
                    return block_start + at + 1
                skip_newlines -= 1
            scanned += len(block)
            if bounded and scanned > self.max_line:
                return None
            block_end = block_start
        return 0

    # -- noticing truncation ------------------------------------------------------------------------

    def look(self) -> str | None:
        """How the file changed since it was last read: None (not at all: nothing to read), ``"grown"``
        or ``"truncated"`` (shorter than what was read, or different before the offset: truncated and
        written anew, copytruncate). Cheap when nothing happened: only an fstat."""
        st = os.fstat(self._fd())
        seen = (st.st_size, st.st_mtime_ns)
        if seen == self._seen:
            return None
        self._seen = seen
        if st.st_size < self.pos or (self.mark is not None and not self._mark_holds()) or (
                self.fp and not fingerprint.still(self.fp, self._fd())):
            return "truncated"
        return "grown"

    def kept(self) -> int | None:
        """After a truncation: where the content kept ends and reading goes on (0: nothing was kept,
        the file is new content); None when that cannot be told (the lines read before the truncation
        point are not in the index: it began later, or is not kept when reading once to the end)."""
        head_kept = not self.fp or fingerprint.still(self.fp, self._fd())
        if self.index is not None:
            kept = self.index.truncated(self._fd(), self._size())
            if kept is not None:
                return kept
        return None if head_kept else 0

    def restart(self, offset: int | None) -> None:
        """Read on at ``offset`` after a truncation (0: the file is new content; None: after its last
        complete line, what was kept being unknown). A line cut by the truncation is resynced at the
        first record after the fragment kept (see ``read_buffer``)."""
        if self.pending and not self.discarding:
            self.on_skip(SkipRecord("truncated_partial_line", f"{len(self.pending)} bytes in {self.path}"))
        resync = offset is not None and offset > 0
        if offset is None:
            offset = self.lines_end()
        if offset < (self.fp[-1][0] if self.fp else 0):
            self.fp, self.fp_final = fingerprint.NONE, False  # taken again of what the file holds now
        if offset == 0 and self.index is not None:
            self.index = LineIndex()
        self.seek(offset, resync=resync)
        self._seen = (-1, -1)

    def _mark_holds(self) -> bool:
        end, digest = self.mark  # type: ignore[misc]
        return mark_of(self._fd(), end) == digest

    def note_read(self) -> None:
        """After reading to the end: remember the bytes before the offset (see :meth:`look`)."""
        self.identify()
        offset = self.offset
        if offset > 0 and (self.mark is None or self.mark[0] != offset):
            self.mark = (offset, mark_of(self._fd(), offset))
        st = os.fstat(self._fd())
        self._seen = (st.st_size, st.st_mtime_ns) if st.st_size == self.pos else (-1, -1)

    def lines_end(self) -> int:
        """Where the file's complete lines end now (after its last newline; 0 if it has none)."""
        return self._line_start_before(self._size(), 0, bounded=False) or 0

    # -- reading ----------------------------------------------------------------------------------

    def read_buffer(self, chunk: int = CHUNK) -> tuple[bytes, int] | None:
        """The bytes kept from the last read followed by the next chunk (possibly empty), and the
        offset they start at; None at the end of the file. The caller takes the complete lines and
        hands the rest to :meth:`keep_rest`."""
        data = os.pread(self._fd(), chunk, self.pos)
        if not data:
            return None
        start = self.pos - len(self.pending)
        self.pos += len(data)
        if self.discarding:
            newline = data.find(b"\n")
            if newline < 0:
                return b"", self.pos
            start += len(self.pending) + newline + 1
            data, self.discarding = data[newline + 1 :], False
        buffer = self.pending + data if self.pending else data
        if start == 0 and buffer[:3] == BOM:
            buffer, start = buffer[3:], 3
            if self.index is not None and self.index.end == 0:
                self.index.base = self.index.end = 3
        elif start == 0 and BOM.startswith(buffer):
            return buffer, start  # (a mark being written: wait for the rest)
        if (self.counted or self.resync) and b"\n" in buffer:
            cut = self._first_line_cut(buffer)
            if cut and self.index is not None:  # (the bytes skipped are still what was there)
                self.index.add_block(start, buffer[:cut])
            buffer, start = buffer[cut:], start + cut
        return buffer, start

    def _first_line_cut(self, buffer: bytes) -> int:
        """Bytes to drop at the start of ``buffer``: a line already counted (its unterminated record
        now has its newline), or the fragment a truncation left before a new record."""
        newline = buffer.index(b"\n")
        counted, self.counted = self.counted, 0
        resync, self.resync = self.resync, False
        line = buffer[:newline]
        if counted and len(line) == counted:
            return newline + 1
        if resync:  # (the fragment is what was kept of a line counted before: dropped silently)
            return glued_at(line)
        return 0

    def keep_rest(self, rest: bytes) -> None:
        """Keep an unfinished last line for the next read (an over-long one is counted and dropped)."""
        if len(rest) > self.max_line:
            self.on_skip(SkipRecord("line_too_long", f"over {self.max_line} bytes in {self.path}"))
            rest, self.discarding = b"", True
        self.pending = rest

    def take_unterminated(self) -> bytes:
        """The bytes after the last newline, for when the file is finished (headless end, or a
        rotated file let go): a whole record written without its newline still counts. They stay
        pending, marked as counted, so a resume state reads them again only if they grew."""
        if self.counted:
            return b""
        self.counted = len(self.pending)
        return self.pending

    # -- resume state -------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Where this file was read to, and what it is (see ``JsonlSource.checkpoint``)."""
        state: dict[str, Any] = {"path": self.path, "dev": self.id[0], "ino": self.id[1],
                                 "fp": fingerprint.to_json(self.fp), "offset": self.offset}
        if self.discarding:
            state["offset"], state["discarding"] = self.pos, True
        elif self.counted:
            state["counted"] = self.counted
        return state

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _fd(self) -> int:
        if self.fd is None:
            raise ValueError(f"{self.path} is closed")
        return self.fd

    def _size(self) -> int:
        return os.fstat(self._fd()).st_size


def mark_of(fd: int, offset: int) -> int:
    """Hash of the ``MARK`` bytes before ``offset`` of an open file."""
    at = max(0, offset - MARK)
    return xxhash.xxh3_64_intdigest(os.pread(fd, offset - at, at))


