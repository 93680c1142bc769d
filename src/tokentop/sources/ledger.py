"""Follow a SQLite usage ledger written by another process, read-only, one short poll at a time.

A poll runs when the ledger's directory reports a change to the database or its ``-wal`` /
``-journal`` (a commit writes one of them), and every ``poll_interval`` regardless (a filesystem that
reports nothing, such as a network mount, is still followed). Each poll: check the file is still the
same file (a replaced file is reopened), ask ``data_version`` whether another connection committed
since the last poll (nothing else is queried when it did not), re-read the schema when
``schema_version`` moved, then fetch new rows per table in batches. No read transaction outlives a
query, so the writer's checkpoints are never held up. The database is opened with ``mode=ro``: a
missing file is reported and waited for, never created. See docs/sources-sqlite.md.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from tokentop.config import Config, ConfigError
from tokentop.core.event import SkipRecord
from tokentop.core.normalise import Normaliser
from tokentop.core.rows import RowDecoder
from tokentop.sources.base import Batch, SourceStatus
from tokentop.sources.filewatch import DirectoryWatcher, Relevance
from tokentop.sources.ledger_presets import PRESETS, Preset, detect_preset, preset_for_table
from tokentop.sources.ledger_table import Row, TableFollower, quote
from tokentop.sources.options import check_options, normaliser_for, role_of

OPTIONS = frozenset({"path", "table", "preset", "columns", "id_column", "poll_interval", "batch_size",
                     "busy_timeout"})
DEFAULT_POLL_INTERVAL = 0.2
DEFAULT_BATCH_SIZE = 1_000
"""Rows per fetch: small enough that a fetched batch is still in the CPU caches when it is decoded."""
DEFAULT_BUSY_TIMEOUT = 0.25
"""Seconds a query waits on a lock before the poll gives up and tries again next time."""

_VERSIONS = "SELECT (SELECT data_version FROM pragma_data_version), (SELECT schema_version FROM pragma_schema_version)"


@dataclass(frozen=True, slots=True)
class LedgerSettings:
    path: Path
    table: str | None = None
    preset: str | None = None
    id_column: str | None = None
    columns: tuple[str, ...] = ()
    """Columns named by the ``columns`` mapping (read even when the preset would not)."""
    json_columns: tuple[str, ...] = ()
    poll_interval: float = DEFAULT_POLL_INTERVAL
    batch_size: int = DEFAULT_BATCH_SIZE
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT


class LedgerSource:
    kind = "sqlite"

    def __init__(self, name: str, role: str, settings: LedgerSettings,
                 normaliser_for_preset: Callable[[Preset], Normaliser],
                 clock: Callable[[], float] = time.time) -> None:
        self.name, self.role, self.settings = name, role, settings
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

    async def batches(self, follow: bool) -> AsyncIterator[Batch]:
        watcher = self.watcher = DirectoryWatcher(Relevance(()), asyncio.Event()) if follow else None
        try:
            while True:
                async for batch in self._poll():
                    yield batch
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
            for follower in self._followers:
                if follower.names is None:
                    continue
                more = True
                while more:
                    rows, more = await follower.fetch(db)
                    batch = self._decode(follower, rows, self.clock())
                    self._note_duplicates(follower)
                    self.status.saw(batch.events, self.clock())
                    self._healthy()
                    if batch:
                        yield batch
            self._versions = versions
            self._healthy()
        except sqlite3.OperationalError as exc:
            await self._problem(exc)
        except sqlite3.Error as exc:
            await self._problem(exc, reopen=True)
        except LookupError as exc:
            self.status.fail(str(exc))

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
            self._warning = _stale_wal_warning(path, info)
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
        return True

    def _describe(self, followers: list[TableFollower]) -> str:
        assert self._preset is not None
        parts = [f"{self.settings.path} · {', '.join(f.table for f in followers)} ({self._preset.name})"]
        missing = sorted({c for f in followers for c in f.missing})
        if missing:
            parts.append(f"missing columns: {', '.join(missing)}")
        if self._warning:
            parts.append(self._warning)
        return " · ".join(parts)

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
        return Batch(events=events, retracted=self._normaliser.take_retractions())

    def _note_duplicates(self, follower: TableFollower) -> None:
        total = sum(f.duplicates for f in self._followers)
        while self._duplicates < total:
            self._duplicates += 1
            self.status.skip(SkipRecord("already_counted", f"{follower.table}: row of a replaced ledger seen before"))


def _stale_wal_warning(path: Path, info: os.stat_result) -> str | None:
    """A replaced WAL ledger whose old ``-wal`` still holds frames reads wrong in every SQLite client."""
    try:
        wal = os.stat(f"{path}-wal")
    except OSError:
        return None
    if wal.st_size > 0 and wal.st_mtime_ns < info.st_mtime_ns:
        return "warning: the file was replaced but an older non-empty -wal is beside it"
    return None


# -- configuration ------------------------------------------------------------------------------------


def make_source(name: str, options: Mapping[str, Any], config: Config,
                clock: Callable[[], float] = time.time) -> LedgerSource:
    check_options(name, options, OPTIONS, config)
    settings, fields = _settings(name, options, config)
    common = {k: v for k, v in options.items() if k in ("format", "default_token_source")}
    common["fields"] = fields
    normaliser_for(name, common, config)  # reject bad common options now, not at the first poll

    def for_preset(preset: Preset) -> Normaliser:
        if "format" in options or preset.format is None:
            return normaliser_for(name, common, config)
        return normaliser_for(name, {**common, "format": preset.format}, config)

    return LedgerSource(name, role_of(name, options, config), settings, for_preset, clock)


def _settings(name: str, options: Mapping[str, Any], config: Config) -> tuple[LedgerSettings, dict[str, str]]:
    def bad(key: str, problem: str) -> ConfigError:
        return ConfigError(config.path, f"sources.{name}.{key}", problem)

    path = options.get("path")
    if not isinstance(path, str) or not path:
        raise bad("path", "a ledger source needs the path of its SQLite file")
    preset = options.get("preset")
    if preset is not None and preset not in PRESETS:
        raise bad("preset", f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    for key in ("table", "id_column"):
        if key in options and not (isinstance(options[key], str) and options[key]):
            raise bad(key, "must be a non-empty string")
    columns = options.get("columns", {})
    if not isinstance(columns, Mapping) or not all(isinstance(v, str) and v for v in columns.values()):
        raise bad("columns", "must map field names to a column or column.json.path")
    given = options.get("fields", {})
    if not isinstance(given, Mapping):
        raise bad("fields", "must map field names to dotted paths")
    fields = {**columns, **given}
    heads = tuple(dict.fromkeys(v.split(".", 1)[0] for v in fields.values() if isinstance(v, str)))
    json_heads = tuple(dict.fromkeys(v.split(".", 1)[0] for v in fields.values() if isinstance(v, str) and "." in v))
    numbers = {}
    for key, default, kind in (("poll_interval", DEFAULT_POLL_INTERVAL, float),
                               ("busy_timeout", DEFAULT_BUSY_TIMEOUT, float),
                               ("batch_size", DEFAULT_BATCH_SIZE, int)):
        value = options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or (
                kind is int and not isinstance(value, int)):
            raise bad(key, f"must be a positive {'whole ' if kind is int else ''}number")
        numbers[key] = kind(value)
    settings = LedgerSettings(
        path=Path(path).expanduser(), table=options.get("table"), preset=preset, id_column=options.get("id_column"),
        columns=heads, json_columns=json_heads, **numbers,
    )
    return settings, fields
