"""Following one table of a ledger by a high-water mark, counting every row exactly once.

The mark is ``rowid`` or a configured monotonic, unique column. Each fetch re-reads the row at the mark
(the *anchor*, the last row counted) together with the rows after it, so a changed history is noticed:

1. The anchor is where it was (the normal case): the rows after it are new.
2. The anchor is gone or different, the file is the same and rows exist at or after the mark: the newest
   row was deleted and its id reused (SQLite reuses the largest rowid without AUTOINCREMENT), so the rows
   from the mark on are new.
3. Otherwise (the file was replaced, or the ids went backwards): if the anchor row is found elsewhere with
   identical content (a renumbered or restored copy), follow on after it; if not, this is a new ledger and
   it is read from the start, skipping rows identical to one of the last ``RECENT`` rows counted (a copy
   that overlaps the old one), each such row counted as an ``already_counted`` skip.

Rows counted are never taken back: a rotated-away ledger's rows happened. See docs/sources-sqlite.md.

When the columns read change (a column added, or a resume state taken with other columns) the anchor
cannot be compared: the rows after the mark (strictly) are new, and the next row read is the anchor.
"""

from __future__ import annotations

import base64
import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import aiosqlite

from tokentop.sources.ledger_presets import Preset

RECENT = 10_000
"""How many counted rows are remembered (by fingerprint) to recognise an overlapping replacement."""

Row = tuple[Any, ...]


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class TableFollower:
    def __init__(self, table: str, preset: Preset, mark: str | None, extra_columns: Sequence[str],
                 batch_size: int) -> None:
        self.table = table
        self.preset = preset
        self.mark = mark or "rowid"
        self.extra_columns = tuple(extra_columns)
        self.batch_size = batch_size
        self.names: tuple[str, ...] | None = None
        """Columns read (besides the mark), once the table is known."""
        self.missing: tuple[str, ...] = ()
        self.hw: Any = None
        self.anchor: Row | None = None
        self.recent: deque[int] = deque(maxlen=RECENT)
        self._unprinted: deque[list[Row]] = deque()
        """The last batches taken (at least ``RECENT`` rows when there are), not fingerprinted yet: only
        a replaced ledger asks for fingerprints, so a backfill need not hash every row it reads."""
        self._unprinted_rows = 0
        self.replaced = False
        """Set by the source when the database file was replaced since the last fetch."""
        self.checking: set[int] | None = None
        """Fingerprints of recently counted rows, while re-reading a replaced ledger."""
        self.duplicates = 0
        self.generations = 0
        self.anchor_unknown = False
        """The anchor was taken with other columns: the rows after the mark are new (see above)."""
        self._resumed_columns: tuple[str, ...] | None = None
        self.placed = False
        """Where counting starts was decided (by the start policy or a resume state)."""
        self.history_summed = False
        """Its history was summed (``ledger_sums``) or found too small to sum: not again."""
        self.counted_history = False
        """The rows it had to read at the start were added to the source's progress."""
        """The columns a resumed anchor was taken with (until the table's columns are read)."""

    def resolve(self, table_columns: Sequence[str]) -> None:
        """Choose the columns to read from those the table has (``PRAGMA table_info``)."""
        have = list(table_columns)
        resumed = self._resumed_columns
        wanted = list(self.preset.columns) if self.preset.columns is not None else have
        wanted += [c for c in self.extra_columns if c not in wanted]
        if self.mark != "rowid" and self.mark not in have:
            raise LookupError(f"table {self.table} has no column {self.mark} (id_column)")
        names = tuple(c for c in wanted if c in have)
        if self.anchor is not None and names != (self.names if resumed is None else resumed):
            self.anchor_unknown = True
        self._resumed_columns = None
        self.names = names
        self.missing = tuple(c for c in wanted if c not in have)

    def forget_columns(self) -> None:
        self.names = None

    def place(self, row: Row | None) -> None:
        """Count from after ``row`` on (None: from the first row)."""
        self.hw, self.anchor = (None, None) if row is None else (row[0], tuple(row[1:]))

    def state(self) -> dict[str, Any]:
        """The mark and anchor row (values encoded for JSON: see ``encode``), with the columns read."""
        return {"table": self.table, "mark": self.mark, "hw": encode(self.hw),
                "anchor": None if self.anchor is None else [encode(v) for v in self.anchor],
                "columns": list(self.names or ())}

    def resume(self, hw: Any, anchor: list[Any] | None, columns: list[str]) -> None:
        """Continue after a resumed mark (values as :meth:`state` encoded them)."""
        self.hw = decode(hw)
        self.anchor = None if anchor is None else tuple(decode(v) for v in anchor)
        self._resumed_columns = tuple(columns)

    def select(self) -> str:
        assert self.names is not None
        cols = ", ".join([quote(self.mark) if self.mark != "rowid" else "rowid"] + [quote(c) for c in self.names])
        return f"SELECT {cols} FROM {quote(self.table)}"

    async def fetch(self, db: aiosqlite.Connection) -> tuple[list[Row], bool]:
        """New rows (mark first) and whether more may follow immediately (a full batch)."""
        order = f" ORDER BY {quote(self.mark) if self.mark != 'rowid' else 'rowid'} LIMIT ?"
        mark = quote(self.mark) if self.mark != "rowid" else "rowid"
        if self.hw is None:
            rows = list(await db.execute_fetchall(self.select() + order, (self.batch_size,)))
            return self._take(rows), len(rows) >= self.batch_size
        if self.anchor_unknown:
            rows = list(await db.execute_fetchall(self.select() + f" WHERE {mark} > ?" + order,
                                                  (self.hw, self.batch_size)))
            self.anchor_unknown = False
            return self._take(rows), len(rows) >= self.batch_size
        rows = list(await db.execute_fetchall(self.select() + f" WHERE {mark} >= ?" + order,
                                              (self.hw, self.batch_size + 1)))
        full = len(rows) > self.batch_size
        if rows and rows[0][0] == self.hw and rows[0][1:] == self.anchor:
            self.replaced = False
            return self._take(rows[1:]), full
        if not self.replaced and rows:
            return self._take(rows), full  # rule 2: the newest row was deleted and its id reused
        return await self._reanchor(db)

    async def _reanchor(self, db: aiosqlite.Connection) -> tuple[list[Row], bool]:
        self.replaced = False
        assert self.anchor is not None and self.names is not None
        where = " AND ".join(f"{quote(c)} IS ?" for c in self.names)
        found = list(await db.execute_fetchall(self.select() + f" WHERE {where} LIMIT 1", self.anchor))
        if found:
            self.hw = found[0][0]  # rule 3: the counted row is there, renumbered: follow on after it
            return await self.fetch(db)
        self.generations += 1  # rule 3: a new ledger, read from the start
        self.checking = set(self._recent())
        self.hw = self.anchor = None
        return await self.fetch(db)

    def _recent(self) -> deque[int]:
        """Fingerprints of the last ``RECENT`` rows counted."""
        if self._unprinted:
            rows = [row for batch in self._unprinted for row in batch]
            self.recent.extend(hash(row[1:]) for row in rows[-RECENT:])
            self._unprinted.clear()
            self._unprinted_rows = 0
        return self.recent

    def _keep_unprinted(self, rows: list[Row]) -> None:
        """Keep a batch for ``_recent``, dropping batches that newer ones push out of its reach."""
        self._unprinted.append(rows)
        self._unprinted_rows += len(rows)
        while self._unprinted_rows - len(self._unprinted[0]) >= RECENT:
            self._unprinted_rows -= len(self._unprinted.popleft())

    def _take(self, rows: list[Row]) -> list[Row]:
        if not rows:
            return rows
        checking = self.checking
        if checking is not None:
            remember = self._recent().append
            fresh = []
            for row in rows:
                print_ = hash(row[1:])
                if print_ in checking:
                    self.duplicates += 1
                    continue
                fresh.append(row)
                remember(print_)
            if len(rows) < self.batch_size:
                self.checking = None
        else:
            fresh = rows
            self._keep_unprinted(rows)
            if len(rows) < self.batch_size:
                self._recent()  # caught up (live): a few rows, hashed now rather than held
        last = rows[-1]
        self.hw, self.anchor = last[0], last[1:]
        return fresh


def encode(value: Any) -> Any:
    """A column value as JSON: bytes and non-finite floats tagged (SQLite stores both)."""
    if isinstance(value, bytes):
        return {"b": base64.b64encode(value).decode("ascii")}
    if isinstance(value, float) and not math.isfinite(value):
        return {"f": repr(value)}
    return value


def decode(value: Any) -> Any:
    """The value :func:`encode` encoded; ValueError if it is not one."""
    if isinstance(value, dict):
        if set(value) == {"b"} and isinstance(value["b"], str):
            return base64.b64decode(value["b"], validate=True)
        if set(value) == {"f"} and value["f"] in ("inf", "-inf", "nan"):
            return float(value["f"])
        raise ValueError(f"not an encoded value: {value!r}"[:80])
    if value is None or isinstance(value, (int, float, str)):
        return value
    raise ValueError(f"not a column value: {value!r}"[:80])
