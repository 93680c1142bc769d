"""A SQLite ledger's history summed by SQLite: the same grouped scan as PostgreSQL's (``summing``,
``app_sums``), in SQLite's spellings.

SQLite keeps any type in any column, so what a PostgreSQL table's types guarantee is checked per value
here, and a row failing a check is odd (read one by one, as before, with the same events or counted
skips): a count must be an integer, a cost a number, a label not a blob, ``metadata`` valid JSON whose
``platform`` is a scalar. A time is summed when it is epoch seconds (a number) or ISO 8601 text in UTC
(``YYYY-MM-DD[T ]HH:MM:SS``, a fraction, ``Z`` or nothing -- SQLite's own ``CURRENT_TIMESTAMP`` among
them); anything else (an offset, milliseconds, another spelling) is read row by row. Text times are
grouped also by their shape and day, so that within a group their order as text is their order in
time: the group's first and last times are then its ``min``/``max`` read by ``parse_time``, exactly
as its rows would be, and each distinct day is checked to be a date once, in Python (a group on a
day that is not one is read row by row).

Only tables the ``app`` format reads are summed, and only from the beginning (a resumed table, a
``start`` placing the cursor or a ``since`` read rows).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, Final

import aiosqlite

from tokentop.core.event import SkipRecord
from tokentop.core.normalise import CostFunction, Normaliser
from tokentop.core.plans import PlanBook
from tokentop.core.summaries import RECENT_ROWS, SpanPlan, Summary, period_boundaries, summed_requests
from tokentop.core.timeparse import parse_time
from tokentop.sources.app_sums import app_spec, count_range
from tokentop.sources.base import Batch
from tokentop.sources.ledger_table import Row, TableFollower, quote
from tokentop.sources.summing import GroupReader, Label, SumSpec, grouped_query

if TYPE_CHECKING:
    from tokentop.sources.ledger import LedgerSource

_ISO: Final = "[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9][T ][0-2][0-9]:[0-5][0-9]:[0-5][0-9]*"


def _iso(ts: str) -> str:
    """SQL: a text time's first 19 characters with a ``T``, comparable with :func:`_iso_of`'s."""
    return f"replace(substr({ts}, 1, 19), ' ', 'T')"


def _iso_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


class SqliteSql:
    """SQLite's side of an ``app`` table's spec (:class:`~tokentop.sources.app_sums.TableSql`)."""

    quote = staticmethod(quote)

    @staticmethod
    def summable(role: str, kind: str) -> bool:
        return True  # (declared types bind nothing: each value is checked)

    @staticmethod
    def odd_time(ts: str) -> list[str]:
        number = f"typeof({ts}) IN ('integer', 'real') AND {ts} >= 0 AND {ts} < 1e11"
        zone = f"substr({ts}, 20)"
        text = (f"typeof({ts}) = 'text' AND {ts} GLOB '{_ISO}' AND substr({ts}, 12, 2) < '24'"
                f" AND substr({ts}, 1, 4) BETWEEN '1970' AND '2999'"
                f" AND ({zone} IN ('', 'Z') OR ({zone} GLOB '.[0-9]*' AND ltrim(substr({ts}, 21), '0123456789') IN ('', 'Z')))")
        return [f"NOT (({number}) OR ({text}))"]

    @staticmethod
    def odd_count(expr: str) -> list[str]:
        return [f"typeof({expr}) NOT IN ('integer', 'null')", count_range(expr)]

    @staticmethod
    def odd_cost(expr: str) -> list[str]:
        return [f"typeof({expr}) NOT IN ('integer', 'real', 'null')", f"{expr} < 0", f"{expr} > 1.7e308"]

    @staticmethod
    def label(path: tuple[str, ...], column: str, kind: str) -> tuple[Label, list[str]]:
        return Label(path, quote(column)), [f"typeof({quote(column)}) = 'blob'"]

    @staticmethod
    def json_member(column: str, path: tuple[str, ...]) -> tuple[Label, list[str]]:
        q, where = quote(column), "$." + ".".join(path)
        valid = f"typeof({q}) = 'text' AND json_valid({q})"
        return Label((column, *path), f"CASE WHEN {valid} THEN json_extract({q}, '{where}') END"), [
            f"{q} IS NOT NULL AND NOT ({valid})",
            f"CASE WHEN {valid} THEN json_type({q}, '{where}') END IN ('object', 'array', 'true', 'false')"]

    @staticmethod
    def wide(expr: str) -> str:
        return expr


class SqliteDialect:
    """SQLite's spellings of the grouped scan (:class:`~tokentop.sources.summing.Dialect`). A time is a
    number or UTC ISO text (``SqliteSql.odd_time`` lets only these through)."""

    @staticmethod
    def slot(ts: str) -> str:
        iso = _iso(ts)
        return (f"CASE WHEN typeof({ts}) = 'text' THEN CASE WHEN {iso} < :hour_iso THEN NULL"
                f" WHEN {iso} >= :minute_iso THEN substr({ts}, 1, 16) ELSE substr({ts}, 1, 13) END"
                f" WHEN {ts} < :hour_edge THEN NULL WHEN {ts} >= :minute_edge THEN CAST({ts} / 60 AS INTEGER)"
                f" ELSE -CAST({ts} / 3600 AS INTEGER) END")

    @staticmethod
    def segment(ts: str, plan: SpanPlan) -> str:
        if not plan.boundaries:
            return "0"
        text = " + ".join(f"({_iso(ts)} >= :b{i}_iso)" for i in range(len(plan.boundaries)))
        number = " + ".join(f"({ts} >= :b{i})" for i in range(len(plan.boundaries)))
        return f"CASE WHEN typeof({ts}) = 'text' THEN {text} ELSE {number} END"

    @staticmethod
    def shape(ts: str) -> list[str]:
        """Group keys that make a group's text times sort as they happened: day, length, separator, Z."""
        text = f"typeof({ts}) = 'text'"
        return [f"CASE WHEN {text} THEN substr({ts}, 1, 10) END", f"CASE WHEN {text} THEN length({ts}) END",
                f"CASE WHEN {text} THEN substr({ts}, 11, 1) END", f"CASE WHEN {text} THEN substr({ts}, -1) = 'Z' END"]

    @staticmethod
    def valid(shape: tuple[Any, ...]) -> bool:
        """Whether a group's day is a date (the GLOB lets ``2026-02-30`` through)."""
        day = shape[0]
        if day is None:
            return True
        try:
            date.fromisoformat(day)
        except ValueError:
            return False
        return True

    @staticmethod
    def invalid(ts: str, shapes: list[tuple[Any, ...]]) -> str:
        """SQL: the rows of groups :meth:`valid` refused."""
        days = ", ".join("'" + str(s[0]).replace("'", "''") + "'" for s in shapes)
        return f"(typeof({ts}) = 'text' AND substr({ts}, 1, 10) IN ({days}))"

    @staticmethod
    def text(expr: str) -> str:
        return expr  # SQLite keeps each value's own type (text, real, integer): nothing to cast

    real = time_out = text  # a time comes out as stored: ``epoch`` reads numbers and ISO text alike

    @staticmethod
    def greatest0(expr: str) -> str:
        return f"max({expr}, 0)"

    @staticmethod
    def parameters(plan: SpanPlan) -> dict[str, Any]:
        params: dict[str, Any] = {"minute_edge": plan.minute_edge, "hour_edge": plan.hour_edge,
                                  "minute_iso": _iso_of(plan.minute_edge), "hour_iso": _iso_of(plan.hour_edge)}
        for i, b in enumerate(plan.boundaries):
            params[f"b{i}"], params[f"b{i}_iso"] = b, _iso_of(b)
        return params

    @staticmethod
    def epoch(value: Any) -> float:
        ts = parse_time(value)
        assert ts is not None  # (odd rows, without a time, are not summed)
        return ts


# -- the backfill -----------------------------------------------------------------------------------


async def summed_batch(source: LedgerSource, db: aiosqlite.Connection, follower: TableFollower) -> Batch | None:
    """``source``'s history of ``follower``'s table summed, the rows it left out decoded, and the
    follower placed after the cut (None: nothing summed; the rows are read as ever)."""
    summing, preset, normaliser = source.summing, source._preset, source._normaliser
    assert summing is not None and preset is not None and normaliser is not None
    spec = spec_for(follower, preset.format)
    found = spec and await sum_history(db, follower, spec, normaliser, summing, source.name, source.status.skip,
                                       source.clock())
    if not found:
        return None
    follower.place(found.cut)
    batch = source._decode(follower, found.odd, source.clock())
    batch.summaries = found.summaries
    source.status.saw_summaries(found.summaries, source.clock())
    source.status.detail = f"{source.status.detail} · history summed by SQLite ({summed_requests(found.summaries):,} requests)"
    source.status.saw(batch.events, source.clock())
    if source._history is not None:
        source._history[0] += summed_requests(found.summaries) + len(found.odd)
    return batch


@dataclass(frozen=True, slots=True)
class Summing:
    """What summing needs besides the table: the plans (where spans split) and the prices."""

    plans: PlanBook
    cost_of: CostFunction | None


@dataclass(frozen=True, slots=True)
class Summed:
    summaries: list[Summary]
    odd: list[Row]
    """Rows the sums left out, to be read one by one."""
    cut: Row
    """The last row summed (mark first): reading goes on after it."""


async def sum_history(db: aiosqlite.Connection, follower: TableFollower, spec: SumSpec, normaliser: Normaliser,
                      summing: Summing, source: str, skip: Callable[[SkipRecord], None], now: float) -> Summed | None:
    """Sum ``follower``'s table up to the ``RECENT_ROWS``-th newest row in one read transaction; None
    when the table is small (every row is read) or its times cannot place the spans.

    The spans are planned from the times of the first row and of that cut row (a full scan for the
    true oldest and newest would cost as much as the sums): a newest time too early only makes more
    hourly groups, and the sums are checked afterwards against the period boundaries between their
    true first and last times -- a group across one (a row older than the first row, or newer than
    the cut row) means summing again with them."""
    mark = "rowid" if follower.mark == "rowid" else quote(follower.mark)
    select, table = follower.select(), quote(follower.table)
    time_at = follower.names.index(spec.time_key) + 1 if follower.names else 0
    await db.execute("BEGIN")
    try:
        cut = await _one(db, f"{select} ORDER BY {mark} DESC LIMIT 1 OFFSET ?", (RECENT_ROWS - 1,))
        first = await _one(db, f"{select} ORDER BY {mark} LIMIT 1", ())
        bounds = [_time(row[time_at]) for row in (first, cut) if row is not None]
        if cut is None or None in bounds:
            return None
        plans = summing.plans
        plan = SpanPlan.make(plans, min(bounds), max(bounds), now)
        while True:
            reader = GroupReader(spec, normaliser, summing.cost_of, source, skip, SqliteDialect)
            query = grouped_query(spec, table, f"{mark} <= :cut", SqliteDialect, plan)
            reader.add(await db.execute_fetchall(query.sql(), {**SqliteDialect.parameters(plan), "cut": cut[0]}))
            summaries = reader.summaries()
            if not summaries:
                break
            edges = period_boundaries(plans, min(s.counts.first_ts for s in summaries),
                                      max(s.counts.last_ts for s in summaries))
            if set(edges) <= set(plan.boundaries) or not _crossing(summaries, edges):
                break
            plan = replace(plan, boundaries=tuple(sorted({*edges, *plan.boundaries})))
        odd: list[Row] = []
        if reader.odd_rows:
            refused = SqliteDialect.invalid(spec.time, reader.refused) if reader.refused else "FALSE"
            odd = list(await db.execute_fetchall(f"{select} WHERE (({spec.odd}) OR {refused}) AND {mark} <= ?"
                                                 f" ORDER BY {mark}", (cut[0],)))
    finally:
        await db.execute("COMMIT")
    return Summed(summaries, odd, cut)


def _time(value: Any) -> float | None:
    try:
        return parse_time(value)
    except ValueError:
        return None


def _crossing(summaries: list[Summary], edges: tuple[float, ...]) -> bool:
    """Whether a summary spans one of ``edges`` (then it stands for requests of two periods)."""
    return any(bisect_right(edges, s.counts.first_ts) != bisect_right(edges, s.counts.last_ts) for s in summaries)


async def _one(db: aiosqlite.Connection, sql: str, params: tuple[Any, ...]) -> Row | None:
    rows = list(await db.execute_fetchall(sql, params))
    return rows[0] if rows else None


def spec_for(follower: TableFollower, fmt: str | None) -> SumSpec | None:
    """How to sum ``follower``'s table, or None (its rows are read one by one)."""
    if fmt != "app" or not follower.names:
        return None
    return app_spec({name: "" for name in follower.names}, SqliteSql())
