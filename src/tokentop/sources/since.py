"""Finding where ``start = "since:TIME"`` begins in a log file without decoding all of it.

A daily-rotated history is mostly files that end before TIME: such a file is skipped whole (its mtime
is older, or its last records are). In a big file the first record at TIME is found by bisection on
the records' own times (a few dozen lines decoded). Records are not strictly in time order (a request
is often logged when it ends), so the search aims ``SLACK`` seconds earlier and the source still
filters every record by TIME: a record logged more than ``SLACK`` after a later one, before the point
found, is the only kind that can be missed.
"""

from __future__ import annotations

import os
from collections.abc import Callable

SLACK = 900.0
"""Seconds before TIME the search aims at: how much out of order a log's records may be."""
BISECT_MIN = 4 << 20
"""Files smaller than this are read whole (filtered by time): bisecting them saves nothing."""
PROBE = 64 * 1024
"""Bytes read at a probe point to find a record with a time."""

TimeOf = Callable[[bytes], "float | None"]
"""The time of the record a line holds (None: no record, or no time)."""


def since_offset(fd: int, size: int, since: float, time_of: TimeOf) -> int | None:
    """Where to start reading a file (the start of a line) for records at or after ``since``; None
    when every record in it is older (``SLACK`` included): nothing to read."""
    target = since - SLACK
    if size == 0:
        return 0
    if os.fstat(fd).st_mtime < target:
        return None  # not written since before the time asked for
    last = _last_time(fd, size, time_of)
    if last is not None and last < target:
        return None
    if size < BISECT_MIN:
        return 0
    lo, hi = 0, size
    while hi - lo > PROBE:
        start, found = _first_time_after(fd, (lo + hi) // 2, hi, time_of)
        if found is None:
            break  # no record with a time near here: read on from what is known
        if found < target:
            lo = start
        else:
            hi = start
    return lo


def _first_time_after(fd: int, at: int, limit: int, time_of: TimeOf) -> tuple[int, float | None]:
    """The start of the first line after offset ``at`` and the first time of a record from there
    (within ``PROBE`` bytes and before ``limit``)."""
    data = os.pread(fd, min(PROBE, limit - at), at)
    first = data.find(b"\n") + 1
    if first == 0:
        return limit, None
    for line in data[first:].split(b"\n")[:-1]:  # (the last piece may be cut short)
        found = time_of(line)
        if found is not None:
            return at + first, found
    return at + first, None


def _last_time(fd: int, size: int, time_of: TimeOf) -> float | None:
    """The time of the last record with one within the file's last ``PROBE`` bytes."""
    start = max(0, size - PROBE)
    lines = os.pread(fd, size - start, start).split(b"\n")
    if start > 0:
        lines = lines[1:]  # (cut)
    for line in reversed(lines):
        found = time_of(line)
        if found is not None:
            return found
    return None
