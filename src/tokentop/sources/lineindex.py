"""How much of a followed file a truncation kept: hashes of the lines read, compared with what is there now.

A file truncated to a shorter length and appended to again (``truncate -s``, a logger trimming its file,
copytruncate) holds the lines it kept, then new lines. Reading it again from the start would count the
kept lines twice; reading on from the old offset would skip or garble the new ones. The index keeps a
4-byte hash of every line read (in segments, one per chunk read), so after a truncation the kept lines
are found by comparing: a binary search over the segments' first lines, then line by line inside one
segment. Reading continues at the first line that is not what was read; if a truncation cut a line in
the middle, that line is the kept fragment followed by the first new record, and the reader resyncs
at the record (see ``FileTail``).

Formats that read only some lines (a needle, such as Claude Code transcripts) hash each chunk of whole
lines as one block instead: a truncation is then resolved to the start of the first block that changed,
and the few lines re-read are recognised again by the format's superseding keys.

Memory: 4 bytes per line (``MAX_LINES`` lines per file at most; older segments are forgotten and a
truncation below them is reported as not resolvable).
"""

from __future__ import annotations

import os
from array import array
from dataclasses import dataclass

import xxhash

MAX_LINES = 4_000_000
"""Lines remembered per file (16 MB); a file followed longer forgets its oldest segments."""
_PROBE = 64 * 1024

_line_hash = xxhash.xxh32_intdigest


def line_hashes(lines: list[bytes]) -> array[int]:
    return array("I", map(_line_hash, lines))


@dataclass(slots=True)
class Segment:
    start: int
    end: int
    hashes: array[int] | None
    """One hash per line (without its newline); None: the segment is one block, ``block`` its hash."""
    block: int = 0


class LineIndex:
    """Hashes of the complete lines read from one file, contiguous from ``base`` to ``end``."""

    def __init__(self, base: int = 0, from_start: bool = True) -> None:
        self.base = self.end = base
        self.from_start = from_start
        """The index begins at the file's first line (at 0, or after a byte order mark)."""
        self.segments: list[Segment] = []
        self.lines = 0

    def add_lines(self, start: int, lines: list[bytes], end: int) -> None:
        """Complete lines read from ``start`` to ``end`` (each followed by one newline)."""
        if lines:
            self._add(Segment(start, end, line_hashes(lines)), len(lines))

    def add_block(self, start: int, block: bytes) -> None:
        """Whole lines read from ``start`` (``block`` ends with a newline), hashed as one."""
        if block:
            self._add(Segment(start, start + len(block), None, xxhash.xxh3_64_intdigest(block)), 1)

    def _add(self, segment: Segment, lines: int) -> None:
        if segment.start != self.end:  # not where the index ends: it starts again here
            self.__init__(segment.start, from_start=False)  # type: ignore[misc]
        self.segments.append(segment)
        self.end = segment.end
        self.lines += lines
        while self.lines > MAX_LINES and len(self.segments) > 1:
            old = self.segments.pop(0)
            self.lines -= len(old.hashes) if old.hashes is not None else 1
            self.base, self.from_start = self.segments[0].start, False

    def truncated(self, fd: int, size: int) -> int | None:
        """After a truncation: where the content read is no longer what the file holds (the start of
        the first line or block that changed or is gone); the index is cut back to there. None when
        that lies below what the index remembers (it forgot the start, or began after the file's
        start) and cannot be told; the index is then emptied."""
        segments = self.segments
        if not segments or not self._intact_first(segments[0], fd, size):
            kept = 0 if self.from_start else None
            self.__init__(0, from_start=False)  # type: ignore[misc]
            return kept
        lo, hi = 0, len(segments) - 1  # the last segment whose first line is intact
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._intact_first(segments[mid], fd, size):
                lo = mid
            else:
                hi = mid - 1
        kept, lines = self._walk(segments[lo], fd, size)
        del segments[lo + 1 :]
        last = segments[lo]
        if last.end > kept:
            if last.hashes is None or lines == 0:
                segments.pop()
            else:
                segments[lo] = Segment(last.start, kept, last.hashes[:lines])
        self.lines = sum(len(s.hashes) if s.hashes is not None else 1 for s in segments)
        self.end = kept
        return kept

    @staticmethod
    def _intact_first(segment: Segment, fd: int, size: int) -> bool:
        if segment.hashes is None:
            return segment.end <= size and xxhash.xxh3_64_intdigest(
                os.pread(fd, segment.end - segment.start, segment.start)) == segment.block
        if not segment.hashes:
            return False
        line = _line_at(fd, segment.start, min(size, segment.end))
        return line is not None and _line_hash(line) == segment.hashes[0]

    @staticmethod
    def _walk(segment: Segment, fd: int, size: int) -> tuple[int, int]:
        """The end of what is intact in ``segment`` (whose first line or block is), and its lines."""
        if segment.hashes is None:
            return segment.end, 1
        data = os.pread(fd, min(size, segment.end) - segment.start, segment.start)
        at = lines = 0
        for expected in segment.hashes:
            newline = data.find(b"\n", at)
            if newline < 0 or _line_hash(data[at:newline]) != expected:
                break
            at, lines = newline + 1, lines + 1
        return segment.start + at, lines


def _line_at(fd: int, start: int, limit: int) -> bytes | None:
    """The complete line (without its newline) at ``start``, or None if it has no newline before ``limit``."""
    data = b""
    while start + len(data) < limit:
        more = os.pread(fd, min(_PROBE, limit - start - len(data)), start + len(data))
        if not more:
            return None
        newline = more.find(b"\n")
        if newline >= 0:
            return data + more[:newline]
        data += more
    return None
