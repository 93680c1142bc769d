"""The hot path from bytes to events: split a chunk into complete lines and normalise each one.

Sources that read newline-delimited JSON (log files, transcripts) feed chunks here; the ingest
benchmark measures exactly this path. A partial last line is returned to the caller to be completed
by the next chunk; an over-long line is counted as skipped, never kept growing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from typing import Any

import orjson

from tokentop.core.event import SkipRecord, UsageEvent
from tokentop.core.normalise import Normaliser

DEFAULT_MAX_LINE = 1 << 20
"""Lines longer than this (1 MiB) are skipped as ``line_too_long``."""


def split_lines(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Complete lines (without their newline) and the unfinished remainder."""
    end = buffer.rfind(b"\n")
    if end < 0:
        return [], buffer
    return buffer[:end].split(b"\n"), buffer[end + 1 :]


def glued_at(line: bytes) -> int:
    """Where a whole record glued after a cut record's fragment starts in ``line`` (0: nowhere).

    A line truncated in the middle (a truncation that cut it, a writer that crashed mid-line) followed
    by the next record holds the fragment, then a complete record, on one line. The record is found
    where the line's own first key (``{"ts"``, say: a log's records start alike) appears again and the
    rest parses as an object; a nested object inside a corrupted line rarely starts with it."""
    if not line.startswith(b'{"'):
        return 0
    end = line.find(b'"', 2)
    if end < 0:
        return 0
    head = line[: end + 1]
    at = line.find(head, 1)
    while at > 0:
        try:
            if type(orjson.loads(line[at:])) is dict:
                return at
        except orjson.JSONDecodeError:
            pass
        at = line.find(head, at + 1)
    return 0


class LineDecoder:
    """Normalises lines of one source; bad lines go to ``on_skip`` with their reason.

    Each ``decode`` call is one delivery: with a forced format's needle, a request written over several
    lines is built once, at the end of the call, from its best line (``Normaliser.read_candidate`` /
    ``deliver``), in the place its first line had. Events it returned that a later line superseded
    are collected for :meth:`take_retractions` (the source passes them on as ``Batch.retracted``).
    """

    def __init__(
        self, normaliser: Normaliser, on_skip: Callable[[SkipRecord], None], max_line: int = DEFAULT_MAX_LINE
    ) -> None:
        self.normaliser = normaliser
        self.on_skip = on_skip
        self.max_line = max_line
        self._retracted: list[UsageEvent] = []
        needle = normaliser.line_needle
        # A compiled search scans a long line ~25 % faster than ``needle in line`` (measured on
        # Claude Code transcripts, ~1.5 KB lines).
        self._has_needle = None if needle is None else re.compile(re.escape(needle)).search

    def set_stream(self, key: Hashable) -> None:
        """The lines that follow come from the file ``key`` (see ``Normaliser.set_stream``)."""
        self.normaliser.set_stream(key)

    def decode(self, lines: list[bytes], read_time: float) -> list[UsageEvent]:
        if self._has_needle is not None:  # most transcript lines hold no usage: drop them in one pass
            has, max_line = self._has_needle, self.max_line
            lines = [line for line in lines if has(line) or len(line) > max_line]
            return self._decode(lines, read_time, self.normaliser.read_candidate)  # (not searched again)
        return self._decode(lines, read_time, self.normaliser.events_from_line, self.normaliser.app_event)

    def decode_chunk(self, buffer: bytes, read_time: float, on_lines: Callable[[list[bytes]], None] | None = None
                     ) -> tuple[list[UsageEvent], bytes]:
        """``decode(split_lines(buffer))``: the events of the complete lines, and the unfinished rest.

        With a needle, only the lines around its hits are cut out of the buffer: splitting every
        line into its own bytes object costs more than the search (Claude Code transcripts).
        Without one, ``on_lines`` (if given) is handed the complete lines too (a follower indexes
        them to recognise what a truncation kept)."""
        end = buffer.rfind(b"\n")
        if end < 0:
            return [], buffer
        search = self._has_needle
        if search is None:
            lines = buffer[:end].split(b"\n")
            if on_lines is not None:
                on_lines(lines)
            return self.decode(lines, read_time), buffer[end + 1 :]
        if self._has_long_line(buffer, end):
            return self.decode(buffer[:end].split(b"\n"), read_time), buffer[end + 1 :]
        read, find, rfind = self.normaliser.read_candidate, buffer.find, buffer.rfind
        hit = search(buffer, 0, end)  # (the needle holds no newline: no hit crosses a line's end)
        while hit is not None:
            at = hit.start()
            stop = find(b"\n", at)
            line = buffer[rfind(b"\n", 0, at) + 1 : stop - (buffer[stop - 1] == 13)]
            try:  # (a CRLF line's \r goes with its newline; the line holds the needle: it is not blank)
                read(line, read_time)
            except Exception as exc:  # noqa: BLE001 - see _decode
                self._recover(line, exc, lambda rest: read(rest, read_time))
            hit = search(buffer, stop, end)
        return self._deliver(), buffer[end + 1 :]

    def _has_long_line(self, buffer: bytes, end: int) -> bool:
        """Whether a line of ``buffer[:end]`` is longer than max_line (a newline every max_line
        bytes rules it out: one backward search per max_line bytes)."""
        pos, max_line = 0, self.max_line
        while end - pos > max_line:
            newline = buffer.rfind(b"\n", pos, pos + max_line + 1)
            if newline < 0:
                return True
            pos = newline + 1
        return False

    def _decode(self, lines: list[bytes], read_time: float,
                from_line: Callable[[bytes, float], list[UsageEvent] | None],
                app_event: Callable[[bytes, float], UsageEvent | None] | None = None) -> list[UsageEvent]:
        events: list[UsageEvent] = []
        append = events.append
        max_line = self.max_line
        for line in lines:
            if not line or line.isspace():
                continue
            if len(line) > max_line:
                self.on_skip(SkipRecord("line_too_long", f"{len(line)} bytes"))
                continue
            if line.endswith(b"\r"):  # CRLF
                line = line[:-1]
            try:
                if app_event is not None:  # most lines of a gateway log: one event, no list
                    event = app_event(line, read_time)
                    if event is not None:
                        append(event)
                        continue
                found = from_line(line, read_time)
            except Exception as exc:  # noqa: BLE001 - one odd record (or a format's bug) must not stop a source
                found = self._recover(line, exc, lambda rest: from_line(rest, read_time))
                if not found:
                    continue
            if found:
                events += found
        return events + self._deliver()

    def _recover(self, line: bytes, exc: Exception, read: Callable[[bytes], Any]) -> Any:
        """After ``line`` failed: the record glued after a cut line's fragment, if there is one (the
        fragment is a ``truncated_partial_line`` skip); else ``exc`` is the line's skip."""
        at = glued_at(line) if isinstance(exc, SkipRecord) and exc.reason == "invalid_json" else 0
        if not at:
            self._skip(exc)
            return None
        self.on_skip(SkipRecord("truncated_partial_line", f"{at} bytes before a record on one line"))
        try:
            return read(line[at:])
        except Exception as again:  # noqa: BLE001 - see _decode
            self._skip(again)
            return None

    def _skip(self, exc: Exception) -> None:
        self.on_skip(exc if isinstance(exc, SkipRecord) else SkipRecord("bad_record", f"{type(exc).__name__}: {exc}"))

    def _deliver(self) -> list[UsageEvent]:
        """The end of a decode call: the events read_candidate queued; retractions are collected."""
        events = self.normaliser.deliver(self.on_skip)
        self._retracted += self.normaliser.take_retractions()
        return events

    def take_retractions(self) -> list[UsageEvent]:
        """Events returned by earlier ``decode`` calls that later lines superseded."""
        retracted, self._retracted = self._retracted, []
        return retracted
