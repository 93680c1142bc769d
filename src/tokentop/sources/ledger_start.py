"""Where a ledger table is read from when a source starts (the ``start`` option), and how much that is.

``end`` and ``tail:N`` place the high-water mark at the last row, or N rows before it. ``since:TIME``
bisects the table on its mark (an integer: rowid or an autoincrement id), reading the time of a few
rows at each probe as the source's format reads it, and places the mark before the first row at
``TIME - SLACK`` (rows are roughly in time order; the source still filters every row by TIME). A
table whose mark is not an integer is read from its first row, filtered.
"""

from __future__ import annotations

from collections.abc import Callable

import aiosqlite

from tokentop.sources.ledger_table import Row, TableFollower, quote
from tokentop.sources.options import Start
from tokentop.sources.since import SLACK

PROBE_ROWS = 16
"""Rows read at a probe point to find one with a time."""
CLOSE_ENOUGH = 1_000
"""A range of marks this small is read (and filtered) rather than bisected further."""

TimeOf = Callable[[Row], "float | None"]


async def place(db: aiosqlite.Connection, follower: TableFollower, start: Start, follow: bool,
                time_of: TimeOf) -> None:
    """Set where ``follower`` starts counting by the start policy (``end``/``tail`` when following)."""
    mark = _mark(follower)
    if start.mode == "end" and follow:
        follower.place(await _one(db, follower, f" ORDER BY {mark} DESC LIMIT 1", ()))
    elif start.mode == "tail" and follow:
        follower.place(await _one(db, follower, f" ORDER BY {mark} DESC LIMIT 1 OFFSET ?", (start.lines,)))
    elif start.mode == "since" and start.since is not None:
        follower.place(await _before(db, follower, start.since - SLACK, time_of))


async def rows_after(db: aiosqlite.Connection, follower: TableFollower) -> int:
    """Rows after the follower's mark (all rows when it has none): what is left to read."""
    table = quote(follower.table)
    if follower.hw is None:
        rows = await db.execute_fetchall(f"SELECT count(*) FROM {table}")
    else:
        rows = await db.execute_fetchall(f"SELECT count(*) FROM {table} WHERE {_mark(follower)} > ?", (follower.hw,))
    return int(next(iter(rows))[0])


async def _before(db: aiosqlite.Connection, follower: TableFollower, target: float, time_of: TimeOf) -> Row | None:
    """The last row older than ``target`` as far as a bisection on the mark tells (None: the first)."""
    mark = _mark(follower)
    bounds = next(iter(await db.execute_fetchall(f"SELECT min({mark}), max({mark}) FROM {quote(follower.table)}")))
    lo, hi = bounds
    if type(lo) is not int or type(hi) is not int:
        return None
    last = await _one(db, follower, f" ORDER BY {mark} DESC LIMIT 1", ())
    if last is not None and (found := time_of(last)) is not None and found < target:
        return last  # every row is older
    before: Row | None = None
    hi += 1
    while hi - lo > CLOSE_ENOUGH:
        mid = (lo + hi) // 2
        rows = await db.execute_fetchall(follower.select() + f" WHERE {mark} >= ? AND {mark} < ? ORDER BY {mark} LIMIT ?",
                                         (mid, hi, PROBE_ROWS))
        timed = next(((row, t) for row in rows if (t := time_of(row)) is not None), None)
        if timed is None:
            break  # no row with a time here: read on from what is known
        row, found = timed
        if found < target:
            before, lo = row, row[0] + 1
        else:
            hi = mid
    return before


async def _one(db: aiosqlite.Connection, follower: TableFollower, tail: str, params: tuple[object, ...]) -> Row | None:
    rows = list(await db.execute_fetchall(follower.select() + tail, params))
    return rows[0] if rows else None


def _mark(follower: TableFollower) -> str:
    return quote(follower.mark) if follower.mark != "rowid" else "rowid"
