"""The live edge of a PostgreSQL usage table: the rows not yet counted, a batch at a time.

By a monotonic integer key where the table has one (``WHERE id > high-water ORDER BY id``). Otherwise by
time with a look-back window and de-duplication by the request id: each fetch asks for the rows from
``newest - lookback`` on whose ids were not yet counted, so a row committed late with an older time
(LiteLLM flushes its spend logs in batches every ~10 s plus jitter) is still counted, and once. A
cheap count of the window comes first; the ids are sent only when it holds rows not yet seen.

Rows are fetched in binary (no number or time is printed by the server and parsed here: ~10 % more rows
a second than text). Marks move only after a fetch succeeded, so a connection lost mid-poll (a server restart) loses and
repeats nothing: the next poll asks again from the same place. A partitioned table is read through its
parent, so a partition created or attached later is followed like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tokentop.sources.pg_tables import Layout

Row = Sequence[Any]
DEFAULT_LOOKBACK = 120.0
"""Seconds of look-back when following by time: LiteLLM's flush interval and jitter, plus requests
that take long (a spend-log row carries the request's start time)."""


class RowCursor:
    """Where the follower is in one table, and the SQL to fetch what comes after it."""

    def __init__(self, layout: Layout, table: str, batch_size: int, lookback: float, where: str = "TRUE") -> None:
        self.layout, self.table, self.batch_size, self.lookback, self.where = layout, table, batch_size, lookback, where
        self.high_water: int | None = None
        """By key: the highest key counted."""
        self.newest: float | None = None
        """By time: the newest time counted (epoch seconds)."""
        self.seen: dict[Any, float] = {}
        """By time: ids (or row fingerprints, for rows without one) counted within the window -> time."""
        self._time_at = layout.names.index(_unquoted(layout.time)) + 1 if layout.time else None

    def relayout(self, layout: Layout) -> None:
        """The table's columns changed: same place, new projection."""
        self.layout = layout
        self._time_at = layout.names.index(_unquoted(layout.time)) + 1 if layout.time else None

    @property
    def by_key(self) -> bool:
        return self.layout.mark is not None

    def start_after(self, key: int | None = None, time: float | None = None) -> None:
        """Continue after summed history: rows with a key above ``key`` / a time from ``time`` on."""
        if key is not None:
            self.high_water = key
        if time is not None:
            self.newest = time + self.lookback

    async def skip_window(self, conn: Any, newest: float) -> None:
        """Count nothing up to ``newest`` (by time): the rows of the window before it are taken as seen."""
        key = self.layout.key or "NULL"
        cur = await conn.execute(f"SELECT {key}::text, extract(epoch from {self.layout.time})::float8 FROM {self.table}"
                                 f" WHERE {self.layout.time} >= to_timestamp(%(h)s) AND {self.where}",
                                 {"h": newest - self.lookback})
        self.newest = newest
        self.seen = {ident: ts for ident, ts in await cur.fetchall() if ident is not None}

    async def fetch(self, conn: Any) -> tuple[list[Row], bool]:
        """New rows (mark first) and whether more may follow at once (a full batch)."""
        return await (self._by_key(conn) if self.by_key else self._by_time(conn))

    async def _by_key(self, conn: Any) -> tuple[list[Row], bool]:
        mark = self.layout.mark
        after = "TRUE" if self.high_water is None else f"{mark} > %(hw)s"
        sql = (f"SELECT {self.layout.select} FROM {self.table} WHERE {after} AND {self.where}"
               f" ORDER BY {mark} LIMIT %(n)s")
        cur = await conn.execute(sql, {"hw": self.high_water, "n": self.batch_size}, binary=True)
        rows = await cur.fetchall()
        if rows:
            self.high_water = rows[-1][0]
        return rows, len(rows) >= self.batch_size

    def _horizon(self) -> float | None:
        return None if self.newest is None else self.newest - self.lookback

    async def _by_time(self, conn: Any) -> tuple[list[Row], bool]:
        horizon = self._horizon()
        time, key = self.layout.time, self.layout.key
        window = "TRUE" if horizon is None else f"{time} >= to_timestamp(%(h)s)"
        if horizon is not None:
            cur = await conn.execute(f"SELECT count(*) FROM {self.table} WHERE {window} AND {self.where}",
                                     {"h": horizon})
            (count,) = await cur.fetchone()
            if count <= len(self.seen):
                return [], False  # nothing new in the window (the common poll)
        unseen = "TRUE" if key is None or not self.seen else f"NOT coalesce({key}::text = ANY(%(seen)s), false)"
        sql = (f"SELECT {self.layout.select} FROM {self.table} WHERE {window} AND {unseen} AND {self.where}"
               f" ORDER BY {time}{', ' + key if key else ''} LIMIT %(n)s")
        ids = [k for k in self.seen if isinstance(k, str)]
        cur = await conn.execute(sql, {"h": horizon, "seen": ids, "n": self.batch_size}, binary=True)
        rows = await cur.fetchall()
        fresh = self._take(rows)
        return fresh, len(rows) >= self.batch_size

    def _take(self, rows: list[Row]) -> list[Row]:
        """Rows not counted before; the window moves on and forgets what fell out of it."""
        assert self._time_at is not None
        fresh = []
        newest = self.newest
        for row in rows:
            ident = row[0] if row[0] is not None else hash(tuple(row))
            if ident in self.seen:
                continue
            ts = row[self._time_at]
            self.seen[ident] = ts if ts is not None else float("-inf")
            if ts is not None and (newest is None or ts > newest):
                newest = ts
            fresh.append(row)
        if newest is not None and newest != self.newest:
            self.newest = newest
            horizon = newest - self.lookback
            self.seen = {k: t for k, t in self.seen.items() if t >= horizon}
        return fresh


def _unquoted(name: str | None) -> str:
    assert name is not None
    return name[1:-1].replace('""', '"') if name.startswith('"') else name
