"""Follow a usage table in PostgreSQL: history summed by the database, then the live edge row by row.

Sessions are read-only by construction (``default_transaction_read_only = on``, a ``statement_timeout``,
``application_name = 'tokentop'``, time zone UTC); autocommit, so no transaction is held between polls
(the backfill's queries share one REPEATABLE READ READ ONLY transaction so that they agree). tokentop
creates nothing in the database. Failures are states with their own message -- refused, authentication
failed, database or table missing, permission denied, statement timeout, the connection lost -- and
the follower reconnects with backoff, continuing from where it was (nothing lost or counted twice).
The password is never shown: messages pass through ``Dsn.scrub``. See docs/sources-postgres.md.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import msgspec

from tokentop.config import Config
from tokentop.core.event import UsageEvent
from tokentop.core.normalise import CostFunction, Normaliser
from tokentop.core.plans import PlanBook
from tokentop.core.rows import RowDecoder
from tokentop.core.summaries import RECENT_ROWS, SpanPlan, Summary, summed_requests
from tokentop.sources.base import Batch, Progress, SourceStatus, new_state, state_body, state_ignored
from tokentop.sources.options import Start, check_options, cost_function, normaliser_for, role_of, start_of
from tokentop.sources import pg_resume, pg_sums
from tokentop.sources.pg_config import OPTIONS, PostgresSettings, settings_of
from tokentop.sources.pg_errors import Problem, problem_of
from tokentop.sources.pg_follow import RowCursor
from tokentop.sources.pg_notify import Wakeup
from tokentop.sources.pg_resume import PgState
from tokentop.sources.pg_tables import DEFAULT_TABLES, Layout, PgDialect, Table, epoch, layout, qualified
from tokentop.sources.summing import GroupReader, grouped_query

BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
COLUMN_CHECK_EVERY = 5.0
"""Seconds between looks at the table's columns (a column added is picked up; a dropped one at once)."""

_TYPMOD = re.compile(r"\(.*?\)")
_COLUMNS = """SELECT a.attname, format_type(a.atttypid, a.atttypmod), c.relkind = 'p',
    has_table_privilege(c.oid, 'SELECT')
    FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
    WHERE c.oid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"""


class PostgresSource:
    kind = "postgres"

    def __init__(self, name: str, role: str, settings: PostgresSettings,
                 normaliser_for_format: Callable[[str | None], Normaliser], plans: PlanBook,
                 cost_of: CostFunction | None, clock: Callable[[], float] = time.time,
                 start: Start = Start("beginning")) -> None:
        self.name, self.role, self.settings, self.plans, self.clock = name, role, settings, plans, clock
        self.start = start
        self.status = SourceStatus(name=name, kind=self.kind, detail=settings.dsn.shown)
        self._normaliser_for_format = normaliser_for_format
        self._cost_of = cost_of
        self._normaliser: Normaliser | None = None
        self._conn: Any = None
        self._table: str | None = None
        self._layout: Layout | None = None
        self._cursor: RowCursor | None = None
        self._decoder: RowDecoder | None = None
        self._summed = False
        self._failures = 0
        self._reconnecting = False
        self._columns_checked = 0.0
        self._time_window: tuple[float | None, float | None] = (None, None)
        self._follow = False
        self._resume: PgState | None = None
        """A resume state taken by :meth:`restore`, applied once the table is found."""
        self._history: list[int] | None = None
        """[done, total] rows of history (None before reading starts)."""
        self._wakeup = (None if settings.notify_channel is None
                        else Wakeup(settings.notify_channel, self._connect_another, self._note))

    def restrict_time(self, since: float | None, until: float | None) -> None:
        """Read only requests in ``[since, until)`` (``snapshot --since/--until``): the database filters."""
        self._time_window = (since, until)

    # -- the loop ---------------------------------------------------------------------------------

    async def batches(self, follow: bool) -> AsyncIterator[Batch]:
        self._follow, self._history = follow, [0, 0]
        try:
            while True:
                try:
                    async for batch in self._poll():
                        yield batch
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - every failure is a state, never a crash
                    await self._failed(problem_of(exc, self.settings.dsn))
                if not follow and self._done_reading():
                    return
                await self._wait(self._delay())
        finally:
            if self._wakeup is not None:
                await self._wakeup.aclose()
            await self._disconnect()

    def _done_reading(self) -> bool:
        """Not following: read to the end, or give up on a problem (a lost connection is tried 3 times)."""
        if not self._failures:
            return True
        return self._failures >= 3 or not self._reconnecting

    async def _wait(self, delay: float) -> None:
        """Until the next poll: ``delay``, or sooner when the notify channel says there is news."""
        if self._wakeup is None or self._failures:
            await asyncio.sleep(delay)
        else:
            await self._wakeup.wait(delay)

    def _note(self, message: str | None) -> None:
        """The listening session's state (its own note only: another, such as a resume notice, stays)."""
        if message is not None or (self.status.note or "").startswith("not listening"):
            self.status.note = message

    def _delay(self) -> float:
        if self._failures:
            return BACKOFF[min(self._failures, len(BACKOFF)) - 1]
        return self.settings.poll_interval

    async def aclose(self) -> None:
        await self._disconnect()

    async def _poll(self) -> AsyncIterator[Batch]:
        conn = await self._connect()
        if not await self._resolve(conn):
            return
        if not self._summed:
            self._summed = True
            batch = await self._begin(conn)
            if batch:
                yield batch
        assert self._cursor is not None and self._history is not None
        more = True
        while more:
            rows, more = await self._cursor.fetch(conn)
            self._healthy()
            self._history[0] += len(rows)
            if rows:
                events = self._decode(rows)
                self.status.saw(events, self.clock())
                assert self._normaliser is not None
                yield Batch(events=events, retracted=self._normaliser.take_retractions())
        self._healthy()
        self._history[1] = self._history[0]  # caught up

    async def _failed(self, problem: Problem) -> None:
        self._failures += 1
        self._reconnecting = problem.reconnect
        if problem.reconnect:
            await self._disconnect()
        if problem.relayout:
            self._columns_checked = 0.0
        delay = BACKOFF[min(self._failures, len(BACKOFF)) - 1]
        suffix = f"; reconnecting in {delay:g} s" if problem.reconnect else f"; retrying in {delay:g} s"
        self.status.fail(problem.message + suffix)

    def _healthy(self) -> None:
        self._failures = 0
        self.status.recover()
        if self.status.state in ("starting", "stale"):
            self.status.state = "ok"

    # -- connection -------------------------------------------------------------------------------

    async def _connect(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = await self._connect_another()
        return self._conn

    async def _connect_another(self) -> Any:
        """A new read-only session (autocommit; the settings in the startup packet, before any query)."""
        import psycopg

        timeout_ms = int(self.settings.statement_timeout * 1000)
        options = (f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}"
                   " -c TimeZone=UTC -c idle_in_transaction_session_timeout=60000")
        kwargs = self.settings.dsn.connect_kwargs()
        kwargs["options"] = f"{options} {kwargs['options']}" if kwargs.get("options") else options
        kwargs.setdefault("connect_timeout", "10")
        return await psycopg.AsyncConnection.connect(autocommit=True, application_name="tokentop", **kwargs)

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:  # noqa: BLE001 - a dead connection closes as it can
                pass

    # -- the table --------------------------------------------------------------------------------

    async def _resolve(self, conn: Any) -> bool:
        """Find the table and choose how to read it (again every few seconds: columns change)."""
        now = time.monotonic()
        if self._layout is not None and now - self._columns_checked < COLUMN_CHECK_EVERY:
            return True
        self._columns_checked = now
        names = [self.settings.table] if self.settings.table else list(DEFAULT_TABLES)
        for name in names:
            cur = await conn.execute(_COLUMNS, (qualified(name),))
            rows = await cur.fetchall()
            if rows:
                columns = {r[0]: _TYPMOD.sub("", r[1]) for r in rows}  # numeric(12,6) -> numeric
                return self._use(Table(name, columns, bool(rows[0][2])), bool(rows[0][3]))
        db = self.settings.dsn.shown
        if self.settings.table:
            self._unusable(f"table {self.settings.table} does not exist (yet) in {db}; waiting for it")
        else:
            self._unusable(f"no usage table ({', '.join(DEFAULT_TABLES)}) in {db}; set table")
        return False

    def _unusable(self, message: str) -> None:
        """The table cannot be read (yet): a state, retried at the backoff's pace."""
        self._failures += 1
        self._reconnecting = False
        self._layout = None
        self.status.fail(message)

    def _use(self, table: Table, readable: bool) -> bool:
        if not readable:
            self._unusable(f"permission denied: the user may not SELECT from {table.name}"
                           f" ({self.settings.dsn.shown}); GRANT SELECT to it")
            return False
        s = self.settings
        new = layout(table, s.preset, s.id_column, s.columns, s.json_columns, s.custom_fields)
        if self._layout is not None and new.names == self._layout.names:
            return True
        if self._normaliser is None:
            self._normaliser = self._normaliser_for_format(new.format)
        self._table = qualified(table.name)
        if self._cursor is None:
            self._cursor = RowCursor(new, self._table, s.batch_size, s.lookback, self._where())
            self._apply_resume(self._cursor, self._table)
        else:
            self._cursor.relayout(new)
        self._layout = new
        self._decoder = None
        parts = [f"{s.dsn.shown} · {table.name} ({new.preset}{', partitioned' if table.partitioned else ''})"]
        if new.missing:
            parts.append(f"missing columns: {', '.join(new.missing)}")
        self.status.detail = " · ".join(parts)
        return True

    def _where(self) -> str:
        """SQL of the time filter (literals: bound once, never from untrusted text)."""
        since, until = self._time_window
        if self.start.since is not None:
            since = self.start.since if since is None else max(since, self.start.since)
        layout_ = self._layout
        time_col = layout_.time if layout_ is not None else None
        clauses = []
        if time_col and since is not None:
            clauses.append(f"{time_col} >= to_timestamp({float(since)!r})")
        if time_col and until is not None:
            clauses.append(f"{time_col} < to_timestamp({float(until)!r})")
        return " AND ".join(clauses) or "TRUE"

    # -- history summed ---------------------------------------------------------------------------

    async def _begin(self, conn: Any) -> Batch | None:
        """Where reading starts: summed history, or (following with ``end``/``tail``) a placed cursor."""
        assert self._cursor is not None
        self._cursor.where = self._where()
        if pg_resume.sums_history(self.start, self._follow):
            return await self._backfill(conn)
        await pg_resume.place(conn, self._cursor, self.start)
        return None

    async def _backfill(self, conn: Any) -> Batch | None:
        """Sum everything but the newest rows in the database; read the rows sums cannot stand for."""
        lay, cursor = self._layout, self._cursor
        assert lay is not None and cursor is not None and self._table is not None
        cursor.where = self._where()
        if lay.sums is None or not self.settings.sum_history or lay.time is None:
            return None
        where, table = cursor.where, self._table
        await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            cur = await conn.execute(f"SELECT min({lay.time}), max({lay.time}) FROM {table} WHERE {where}")
            oldest, newest = await cur.fetchone()
            if oldest is None:
                return None
            order = lay.mark or lay.time
            cur = await conn.execute(f"SELECT {order} FROM {table} WHERE {where} AND {order} IS NOT NULL"
                                     f" ORDER BY {order} DESC OFFSET %s LIMIT 1", (RECENT_ROWS - 1,))
            found = await cur.fetchone()
            if found is None:
                return None  # a small table: every row is read
            cut = found[0]
            if lay.mark is not None:
                summed = f"{where} AND {lay.mark} <= {int(cut)}"
            else:
                cut = min(epoch(cut), epoch(newest) - self.settings.lookback)
                summed = f"{where} AND {lay.time} < to_timestamp({cut!r})"
            plan = SpanPlan.make(self.plans, epoch(oldest), epoch(newest), self.clock())
            summaries, odd_rows = await self._sums(conn, summed, plan)
            if self._history is not None:
                self._history[0] += summed_requests(summaries) + odd_rows
            odd: list[UsageEvent] = []
            if odd_rows:  # rows the sums cannot stand for: read one by one (a second scan, only then)
                cur = await conn.execute(f"SELECT {lay.select} FROM {table} WHERE ({lay.sums.odd}) AND {summed}")
                odd = self._decode(await cur.fetchall())
        finally:
            await conn.execute("COMMIT")
        cursor.start_after(key=int(cut) if lay.mark is not None else None,
                           time=cut if lay.mark is None else None)
        now = self.clock()
        self.status.saw_summaries(summaries, now)
        self.status.detail = f"{self.status.detail} · history summed by the database ({summed_requests(summaries):,} requests)"
        self.status.saw(odd, now)
        assert self._normaliser is not None
        return Batch(events=odd, summaries=summaries, retracted=self._normaliser.take_retractions())

    async def _sums(self, conn: Any, where: str, plan: SpanPlan) -> tuple[list[Summary], int]:
        """The summaries of the grouped scan (see ``pg_sums``), and how many rows it left to be read
        one by one."""
        lay = self._layout
        assert lay is not None and lay.sums is not None and self._normaliser is not None and self._table
        reader = GroupReader(lay.sums, self._normaliser, self._cost_of, self.name, self.status.skip, PgDialect)
        query = grouped_query(lay.sums, self._table, where, PgDialect, plan)
        split = self._time_window == (None, None)  # (a time filter is better served by an index)
        await pg_sums.scan(conn, self._connect_another, self._table, query, plan, reader, split)
        return reader.summaries(), reader.odd_rows

    # -- resuming -----------------------------------------------------------------------------------

    @property
    def progress(self) -> Progress | None:
        return Progress.of(self._history, "rows")

    def checkpoint(self) -> dict[str, Any]:
        """The follower's place as of the batches yielded (see ``pg_resume``); before the table is
        found, the state it was given."""
        if self._cursor is None and self._resume is not None:
            return new_state(self.kind, **msgspec.to_builtins(self._resume))
        return new_state(self.kind, **pg_resume.state_of(self._table, self._cursor))

    def restore(self, state: Mapping[str, Any]) -> bool:
        body = state_body(state, self.kind, self.status)
        if body is None:
            return False
        resumed = pg_resume.parse_state(body)
        if isinstance(resumed, str):
            return state_ignored(self.status, resumed)
        self._resume = resumed
        return True

    def _apply_resume(self, cursor: RowCursor, table: str) -> None:
        """Continue where the resume state says (history is then not summed again)."""
        resumed, self._resume = self._resume, None
        if resumed is None or resumed.table is None:
            return  # (a state taken before anything was read: start by the start option)
        problem = pg_resume.resume(cursor, table, resumed)
        if problem is None:
            self._summed = True
        else:
            state_ignored(self.status, problem)

    # -- rows -------------------------------------------------------------------------------------

    def _decode(self, rows: list[Any]) -> list[UsageEvent]:
        lay = self._layout
        assert lay is not None and self._normaliser is not None
        if self._decoder is None or self._decoder.names != lay.names:
            label = f"{self._table} {'id' if lay.mark else 'request'}"
            self._decoder = RowDecoder(self._normaliser, lay.names, lay.json_columns, label)
        return self._decoder.decode(rows, self.clock(), self.status.skip)


# -- configuration ------------------------------------------------------------------------------------


def make_source(name: str, options: Mapping[str, Any], config: Config,
                clock: Callable[[], float] = time.time) -> PostgresSource:
    check_options(name, options, OPTIONS, config)
    settings, fields = settings_of(name, options, config)
    common = {k: v for k, v in options.items() if k in ("format", "default_token_source")}
    common["fields"] = fields
    normaliser_for(name, common, config)  # reject bad common options now, not at the first poll

    def for_format(fmt: str | None) -> Normaliser:
        if "format" in options or fmt is None:
            return normaliser_for(name, common, config)
        return normaliser_for(name, {**common, "format": fmt}, config)

    return PostgresSource(name, role_of(name, options, config), settings, for_format, config.plans,
                          cost_function(config), clock, start_of(name, options, config, default="beginning"))
