"""Reading one open log file from an offset: whole lines only, in big chunks, surviving truncation.

A :class:`FileTail` owns one open file descriptor, so it keeps reading the same file (inode) even after
the name it was found under is renamed or deleted; the follower decides when to let it go. The file
is only ever opened read-only.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from tokentop.core.event import SkipRecord

CHUNK = 1 << 20
"""Bytes read per call: big reads keep backfill close to the bare parse speed."""
HEAD = 1024
"""Bytes of the file's start kept to notice a truncate-and-rewrite the size alone cannot show."""
_BACK_BLOCK = 64 * 1024

FileId = tuple[int, int]
SkipSink = Callable[[SkipRecord], None]


def open_readonly(path: str) -> int:
    return os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))


class FileTail:
    """One file being read. ``pos`` is the next byte to read; bytes after the last newline wait in
    ``pending`` until their newline arrives (a line is never decoded half-written)."""

    def __init__(self, path: str, fd: int, max_line: int, on_skip: SkipSink) -> None:
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
        self.head = b""
        self.retired_at: float | None = None
        """When the name stopped pointing here (rotated away or deleted); the rest is still drained."""
        self.last_growth = 0.0

    # -- where to start -------------------------------------------------------------------------

    def start_at_end(self) -> None:
        """Start after the last complete line, so a line being written now is read once complete."""
        size = self._size()
        start = self._line_start_before(size, 0, bounded=True)
        self.pos = size if start is None else start
        self.discarding = start is None and size > 0  # inside a line longer than max_line

    def start_at_last_lines(self, count: int) -> None:
        """Start at the first of the last ``count`` complete lines."""
        size = self._size()
        end = self._line_start_before(size, 0, bounded=True)
        if end is None:
            self.pos, self.discarding = size, size > 0
            return
        start = end if count <= 0 else self._line_start_before(end - 1, count - 1, bounded=False)
        self.pos = end if start is None else start

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

    # -- reading ----------------------------------------------------------------------------------

    def check_rewritten(self) -> bool:
        """True (and reset to the start) when the file shrank below what was read, or its first bytes
        changed (truncated and rewritten past the old offset): tail's copytruncate heuristic."""
        size = self._size()
        rewritten = size < self.pos
        if not rewritten and self.head:
            rewritten = os.pread(self._fd(), len(self.head), 0) != self.head
        if rewritten:
            if self.pending:
                self.on_skip(SkipRecord("truncated_partial_line", f"{len(self.pending)} bytes in {self.path}"))
            self.pos, self.pending, self.discarding, self.head = 0, b"", False, b""
        if len(self.head) < HEAD and size > len(self.head):
            self.head = os.pread(self._fd(), HEAD, 0)
        return rewritten

    def read_buffer(self, chunk: int = CHUNK) -> bytes | None:
        """The bytes kept from the last read followed by the next chunk (possibly empty), or None at
        the end of the file. The caller takes the complete lines and hands the rest to :meth:`keep_rest`."""
        data = os.pread(self._fd(), chunk, self.pos)
        if not data:
            return None
        self.pos += len(data)
        if self.discarding:
            newline = data.find(b"\n")
            if newline < 0:
                return b""
            data, self.discarding = data[newline + 1 :], False
        return self.pending + data if self.pending else data

    def keep_rest(self, rest: bytes) -> None:
        """Keep an unfinished last line for the next read (an over-long one is counted and dropped)."""
        if len(rest) > self.max_line:
            self.on_skip(SkipRecord("line_too_long", f"over {self.max_line} bytes in {self.path}"))
            rest, self.discarding = b"", True
        self.pending = rest

    def take_unterminated(self) -> bytes:
        """The bytes after the last newline, for when the file is finished (headless end, or a
        rotated file let go): a whole record written without its newline still counts."""
        rest, self.pending = self.pending, b""
        return rest

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
