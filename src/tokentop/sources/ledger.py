"""Follow a SQLite usage ledger written by another process, read-only, one short poll at a time.

A poll runs when the ledger's directory reports a change to the database or its ``-wal`` /
``-journal`` (a commit writes one of them), and every ``poll_interval`` regardless (a filesystem that
reports nothing, such as a network mount, is still followed). Each poll: check the file is still the
same file (a replaced file is reopened), ask ``data_version`` whether another connection committed
since the last poll (nothing else is queried when it did not), re-read the schema when
``schema_version`` moved, then fetch new rows per table in batches. No read transaction outlives a
query, so the writer's checkpoints are never held up. The database is opened with ``mode=ro``: a
missing file is reported and waited for, never created. A file replaced by another (a rename) is first
drained to its last commit through the old connection, then the new one is opened. Where reading
begins is the ``start`` option (``ledger_start``); the resume state is each table's mark and anchor
row. See docs/sources-sqlite.md.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiosqlite
import msgspec

from tokentop.config import Config
from tokentop.core.event import SkipRecord
from tokentop.core.normalise import Normaliser
from tokentop.core.rows import RowDecoder
from tokentop.sources import ledger_start, ledger_sums
from tokentop.sources.base import Batch, Progress, SourceStatus, new_state, state_body, state_ignored
from tokentop.sources.filewatch import DirectoryWatcher, Relevance
from tokentop.sources.ledger_config import LedgerSettings
from tokentop.sources.ledger_presets import PRESETS, Preset, detect_preset, preset_for_table
from tokentop.sources.ledger_resume import LedgerState, parse_state, stale_wal_warning, wal_size
from tokentop.sources.ledger_sums import Summing
from tokentop.sources.ledger_table import Row, TableFollower, quote
from tokentop.sources.options import Start

_VERSIONS = "SELECT (SELECT data_version FROM pragma_data_version), (SELECT schema_version FROM pragma_schema_version)"


class LedgerSource:
    kind = "sqlite"

    def __init__(self, name: str, role: str, settings: LedgerSettings,
                 normaliser_for_preset: Callable[[Preset], Normaliser],
                 clock: Callable[[], float] = time.time, start: Start = Start("beginning"),
                 summing: Summing | None = None) -> None:
        self.name, self.role, self.settings = name, role, settings
        self.summing = summing
        """Plans and prices to sum history with (``ledger_sums``; None: read by rows)."""
        self.clock = clock
        """Stamps read times of rows without a time and the status (file checks use the wall clock)."""
        self.status = SourceStatus(name=name, kind=self.kind, detail=str(settings.path))
        self._normaliser_for_preset = normaliser_for_preset
        self._normaliser: Normaliser | None = None
        self._preset: Preset | None = None
        self._followers: list[TableFollower] = []
        self._decoders: dict[str, RowDecoder] = {}
        self._db: aiosqlite.Connection | None = None
        self._identity: tuple[int, int] | None = None
        self._versions: tuple[int, int] | None = None
        self._tables_ready = False
        self._duplicates = 0
        self._warning: str | None = None
        self.watcher: DirectoryWatcher | None = None
        """While following: wakes the follower when the ledger's files change."""
        self.start = start
        self._since: float | None = start.since
        self._follow = False
        self._resume: LedgerState | None = None
        """A resume state taken by :meth:`restore`, applied as the tables are found."""
        self._history: list[int] | None = None
        """[done, total] rows of the history being read (None before the first poll)."""

    async def batches(self, follow: bool) -> AsyncIterator[Batch]:
        self._follow = follow
        self._history = [0, 0]
        watcher = self.watcher = DirectoryWatcher(Relevance(()), asyncio.Event()) if follow else None
        try:
            while True:
                async for batch in self._poll():
                    yield batch
                if self._tables_ready and self._history is not None:
                    self._since = None  # the history is read: what comes now is new
                    self._history[0] = self._history[1] = max(self._history)
                if watcher is None:  # not following: read to the end once
                    return
                await self._until_changed(watcher)
        finally:
            if watcher is not None:
                watcher.stop()
            await self._disconnect()

    def _ledger_paths(self) -> set[str]:
        """The ledger's path as given and as resolved: a commit writes next to the real file."""
        path = os.path.abspath(self.settings.path)
        return {path, os.path.realpath(path)}

    async def _until_changed(self, watcher: DirectoryWatcher) -> None:
        """Until the ledger's files change or ``poll_interval`` passes, whichever comes first."""
        paths = self._ledger_paths()  # (again each time: a symlink may have been pointed elsewhere)
        watcher.relevance.targets = frozenset(p + suffix for p in paths for suffix in ("", "-wal", "-journal"))
        watcher.watch(frozenset(d for d in map(os.path.dirname, paths) if os.path.isdir(d)))
        await watcher.until_change(self.settings.poll_interval)

    async def aclose(self) -> None:
        await self._disconnect()

    # -- one poll ---------------------------------------------------------------------------------

    async def _poll(self) -> AsyncIterator[Batch]:
        try:
            for batch in await self._drain_if_replaced():
                yield batch
            db = await self._open()
            if db is None:
                return
            versions = tuple(next(iter(await db.execute_fetchall(_VERSIONS))))
            if versions == self._versions:
                self._healthy()
                return
            if self._versions is None or versions[1] != self._versions[1]:
                self._tables_ready = False
            if not self._tables_ready and not await self._resolve_tables(db):
                self._versions = versions  # a missing table can only appear with a commit
                return
            async for batch in self._fetch_all(db):
                yield batch
            self._versions = versions
            self._healthy()
        except sqlite3.OperationalError as exc:
            await self._problem(exc)
        except sqlite3.Error as exc:
            await self._problem(exc, reopen=True)
        except LookupError as exc:
            self.status.fail(str(exc))

    async def _fetch_all(self, db: aiosqlite.Connection) -> AsyncIterator[Batch]:
        """The new rows of every table, a fetch at a time."""
        for follower in self._followers:
            if follower.names is None:
                continue
            if follower.hw is None and not follower.history_summed and self._may_sum():
                follower.history_summed = True
                summed = await ledger_sums.summed_batch(self, db, follower)
                if summed:
                    yield summed
            more = True
            while more:
                rows, more = await follower.fetch(db)
                batch = self._decode(follower, rows, self.clock())
                self._note_duplicates(follower)
                self.status.saw(batch.events, self.clock())
                if self._history is not None:
                    self._history[0] += len(rows)
                self._healthy()
                if batch:
                    yield batch

    async def _drain_if_replaced(self) -> list[Batch]:
        """When the file was replaced (renamed over), the rows committed to the old one not read yet:
        read through the old connection before the new file is opened.

        The old connection shares the ``-wal``/``-shm`` *by name* with whatever now writes the new file,
        so it would read the new database's pages as the old one's once a writer commits to it. A read
        transaction whose snapshot is taken while the ``-wal`` is empty reads only the old file (as a
        replacement after a checkpoint leaves it), whatever is written after; with frames in the
        ``-wal`` it is not read (noted in the status)."""
        db = self._db
        try:
            info = os.stat(self.settings.path)
        except OSError:
            return []
        if db is None or (info.st_dev, info.st_ino) == self._identity or not self._tables_ready:
            return []
        batches: list[Batch] = []
        try:
            await db.execute("BEGIN")
            try:
                await db.execute_fetchall("SELECT 1 FROM sqlite_master LIMIT 1")  # the snapshot
                if wal_size(self.settings.path) == 0:
                    batches = [batch async for batch in self._fetch_all(db)]
                else:
                    self.status.note = ("the ledger was replaced with frames in its -wal: rows committed to the "
                                        "old file since the last poll could not be read safely")
            finally:
                await db.execute("COMMIT")
        except sqlite3.Error as exc:
            self.status.note = f"the replaced ledger could not be read to its end: {exc}"[:300]
        return batches

    async def _open(self) -> aiosqlite.Connection | None:
        path = self.settings.path
        try:
            info = os.stat(path)
        except FileNotFoundError:
            await self._disconnect()
            self.status.wait_for(str(path))  # (tokentop never creates it)
            return None
        except OSError as exc:
            await self._disconnect()
            self.status.fail(f"cannot read ledger file {path}: {exc.strerror or exc}")
            return None
        identity = (info.st_dev, info.st_ino)
        if self._db is not None and identity != self._identity:
            await self._disconnect()  # the file was replaced: follow the new one
            for follower in self._followers:
                follower.replaced = True
            self._warning = stale_wal_warning(path, info)
        if self._db is None:
            uri = f"{path.resolve().as_uri()}?mode=ro"
            self._db = await aiosqlite.connect(uri, uri=True, timeout=self.settings.busy_timeout,
                                               isolation_level=None)
            self._identity, self._versions, self._tables_ready = identity, None, False
            await self._db.execute_fetchall("PRAGMA query_only = 1")
        return self._db

    async def _disconnect(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            try:
                await db.close()
            except sqlite3.Error:
                pass

    async def _problem(self, exc: sqlite3.Error, reopen: bool = False) -> None:
        message = str(exc)
        if "locked" in message or "busy" in message:
            self.status.state = "stale" if self.status.state != "error" else "error"
            self.status.error = f"database is busy ({message}); retrying"
            return
        if "no such table" in message or "no such column" in message:
            self._tables_ready = False
        self.status.fail(f"{message} ({self.settings.path})")
        if reopen or "unable to open" in message:
            await self._disconnect()

    def _healthy(self) -> None:
        self.status.error = None
        if self.status.state in ("starting", "stale", "waiting", "error"):
            self.status.state = "ok"

    # -- tables and columns -------------------------------------------------------------------------

    async def _resolve_tables(self, db: aiosqlite.Connection) -> bool:
        """Pick the preset and tables (once), then read each table's columns. False: nothing to read."""
        rows = await db.execute_fetchall("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
        present = {name for (name,) in rows}
        if self._preset is None and not self._choose_preset(present):
            return False
        missing_tables = []
        for follower in self._followers:
            if follower.table not in present:
                follower.forget_columns()
                missing_tables.append(follower.table)
                continue
            info = await db.execute_fetchall(f"PRAGMA table_info({quote(follower.table)})")
            follower.resolve([row[1] for row in info])
            if not follower.placed:  # found for the first time: where its reading starts
                await ledger_start.place(db, follower, self.start, self._follow, self._time_of(follower))
                follower.placed = True
            if not follower.counted_history and self._history is not None:
                self._history[1] += await ledger_start.rows_after(db, follower)
                follower.counted_history = True
        readable = [f for f in self._followers if f.names is not None]
        if not readable:
            self.status.fail(f"table {' / '.join(missing_tables)} does not exist (yet) in {self.settings.path}")
            return False
        self._tables_ready = True
        self.status.detail = self._describe(readable)
        return True

    def _choose_preset(self, present: set[str]) -> bool:
        settings = self.settings
        extra = settings.json_columns
        if settings.preset is not None:
            base = PRESETS[settings.preset]
            tables = (settings.table,) if settings.table else base.tables
            preset = Preset(base.name, tables, base.columns, base.json_columns + extra, base.format)
        elif settings.table is not None:
            preset = preset_for_table(settings.table, extra)
        else:
            found = detect_preset(present)
            if found is None:
                known = ", ".join(t for p in PRESETS.values() for t in p.tables)
                self.status.fail(f"no known usage table ({known}) in {settings.path}; set `table`")
                return False
            preset = Preset(found.name, found.tables, found.columns, found.json_columns + extra, found.format)
        self._preset = preset
        self._normaliser = self._normaliser_for_preset(preset)
        self._followers = [
            TableFollower(table, preset, settings.id_column, settings.columns, settings.batch_size)
            for table in preset.tables
        ]
        self._apply_resume()
        return True

    def _time_of(self, follower: TableFollower) -> Callable[[Row], float | None]:
        """The time of a row as the source's format reads it (a throwaway normaliser: the source's
        own state is not touched), for placing ``since``."""
        assert self._preset is not None and follower.names is not None
        decoder = RowDecoder(self._normaliser_for_preset(self._preset), follower.names, self._preset.json_columns,
                             "probe", compiled=False)

        def time_of(row: Row) -> float | None:
            events = decoder.decode([row], self.clock(), lambda _: None)
            return events[0].ts if events and not events[0].time_inferred else None

        return time_of

    def _describe(self, followers: list[TableFollower]) -> str:
        assert self._preset is not None
        parts = [f"{self.settings.path} · {', '.join(f.table for f in followers)} ({self._preset.name})"]
        missing = sorted({c for f in followers for c in f.missing})
        if missing:
            parts.append(f"missing columns: {', '.join(missing)}")
        if self._warning:
            parts.append(self._warning)
        return " · ".join(parts)

    def restrict_time(self, since: float | None, until: float | None) -> None:
        """``snapshot --since/--until``: the rows are filtered as they are read, so none is summed."""
        if since is not None or until is not None:
            self.summing = None

    def _may_sum(self) -> bool:
        return (self.summing is not None and self.settings.sum_history and self._since is None
                and (self.start.mode == "beginning" or not self._follow))

    # -- rows to events -----------------------------------------------------------------------------

    def _decode(self, follower: TableFollower, rows: list[Row], read_time: float) -> Batch:
        """One delivery: the rows' events, and the events delivered before that they supersede (a
        format that keys its records, such as LiteLLM's spend logs, may see a request again)."""
        assert follower.names is not None and self._normaliser is not None and self._preset is not None
        decoder = self._decoders.get(follower.table)
        if decoder is None or decoder.names != follower.names:  # new columns: compiled again
            decoder = self._decoders[follower.table] = RowDecoder(
                self._normaliser, follower.names, self._preset.json_columns, f"{follower.table} {follower.mark}")
        events = decoder.decode(rows, read_time, self.status.skip)
        if self._since is not None:
            since = self._since
            events = [e for e in events if e.ts >= since]
        return Batch(events=events, retracted=self._normaliser.take_retractions())

    # -- resuming -----------------------------------------------------------------------------------

    @property
    def progress(self) -> Progress | None:
        return Progress.of(self._history, "rows")

    def checkpoint(self) -> dict[str, Any]:
        """Each table's high-water mark and anchor row (the last row counted), the columns the anchor
        holds, and the file's device/inode (a file replaced since is then recognised by the anchor)."""
        if not self._followers and self._resume is not None:
            return self._resume_dict(self._resume)  # (not read yet: what it was given)
        identity = self._identity or (0, 0)
        return new_state(self.kind, path=str(self.settings.path), dev=identity[0], ino=identity[1],
                         tables=[f.state() for f in self._followers if f.placed])

    def restore(self, state: Mapping[str, Any]) -> bool:
        body = state_body(state, self.kind, self.status)
        if body is None:
            return False
        resumed = parse_state(body)
        if isinstance(resumed, str):
            return state_ignored(self.status, resumed)
        if resumed.path != str(self.settings.path):
            return state_ignored(self.status, f"it is of {resumed.path[:100]}")
        self._resume = resumed
        return True

    def _apply_resume(self) -> None:
        """Continue each table the resume state names (with the same mark) after its anchor row."""
        if self._resume is None:
            return
        tables = {t.table: t for t in self._resume.tables}
        for follower in self._followers:
            table = tables.get(follower.table)
            if table is not None and table.mark == follower.mark:
                follower.resume(table.hw, table.anchor, table.columns)
                follower.placed = True
                follower.replaced = (self._resume.dev, self._resume.ino) != self._identity

    @staticmethod
    def _resume_dict(resume: LedgerState) -> dict[str, Any]:
        state = msgspec.to_builtins(resume)
        return new_state("sqlite", **state)

    def _note_duplicates(self, follower: TableFollower) -> None:
        total = sum(f.duplicates for f in self._followers)
        while self._duplicates < total:
            self._duplicates += 1
            self.status.skip(SkipRecord("already_counted", f"{follower.table}: row of a replaced ledger seen before"))


def make_source(name: str, options: Mapping[str, Any], config: Config,
                clock: Callable[[], float] = time.time) -> LedgerSource:
    """A ledger source from its options (see ``ledger_config``)."""
    from tokentop.sources.ledger_config import source_parts
    from tokentop.sources.options import cost_function

    role, settings, for_preset, start = source_parts(name, options, config)
    summing = None if settings.columns else Summing(config.plans, cost_function(config))
    return LedgerSource(name, role, settings, for_preset, clock, start, summing)
