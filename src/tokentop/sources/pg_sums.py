"""The grouped scan of a PostgreSQL usage table, on as many cores as the server allows for one query.

PostgreSQL would run the grouped scan as a parallel (partial) hash aggregate if it knew how few groups
come out: it cannot -- the group keys are expressions (the time span, the flags) of which it keeps no
statistics, so it expects about one group per row, and for that a partial aggregate is no gain. It
then aggregates in one process, and on a large table that one core is the whole backfill.

So the scan is split by tokentop instead, into slices of the table's blocks (``ctid`` ranges: a TID
range scan reads only its blocks, PostgreSQL 14 on; in every partition alike), one session each, all
reading the snapshot of the backfill's transaction (``pg_export_snapshot`` / ``SET TRANSACTION
SNAPSHOT``: the slices agree with each other, with the cut and with the rows read after). As many
sessions as the server gives one query (``max_parallel_workers_per_gather`` + 1, the DBA's setting);
a small table, an older server, or a time filter (an index serves it better) take one query. Each
session is read-only like every other and ends with the scan.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Final

from tokentop.core.summaries import SpanPlan
from tokentop.sources.pg_tables import PgDialect
from tokentop.sources.summing import GroupedQuery, GroupReader

SUM_CHUNK: Final = 5000
"""Grouped rows taken from the stream at a time (memory follows the groups, not the rows)."""
SLICES_PER_SESSION: Final = 3
MIN_SLICE_BLOCKS: Final = 4096
"""No slice below 32 MiB of table: sessions cost more than they save under that."""
_SESSION = ("SET LOCAL work_mem = '64MB'", "SET LOCAL jit = off", "SET LOCAL enable_sort = off")
"""For the grouped scan: the hash aggregate in memory (it spills, never fails, past that); JIT off
(compiling the scan's expressions cost more than it saved at 1-10 M rows); no sort-based grouping (the
planner, expecting a group per row, would sort every row)."""
_ONE_PROCESS = ("SET LOCAL max_parallel_workers_per_gather = 0",)
"""A slice is one core's share: no workers of its own."""
_SIZE = """SELECT current_setting('server_version_num')::int >= 140000,
    current_setting('max_parallel_workers_per_gather')::int,
    (SELECT coalesce(max(pg_relation_size(relid)), 0) FROM pg_partition_tree(%s::regclass) WHERE isleaf)
        / current_setting('block_size')::int"""

Connect = Callable[[], Awaitable[Any]]


async def scan(conn: Any, connect: Connect, table: str, query: GroupedQuery, plan: SpanPlan,
               reader: GroupReader, split: bool) -> int:
    """Run ``query`` (inside ``conn``'s REPEATABLE READ transaction) into ``reader``; ``split``: over
    several sessions when that pays. Returns the number of sessions used."""
    sessions, slices = await _slices(conn, table) if split else (1, [])
    if sessions < 2:
        await _run(conn, [query.sql()], plan, reader)
        return 1
    cur = await conn.execute("SELECT pg_export_snapshot()")
    (snapshot,) = await cur.fetchone()
    queue = [query.sql(_blocks(lo, hi)) for lo, hi in reversed(slices)]  # (popped from the end)
    jobs = [_run(conn, queue, plan, reader, _ONE_PROCESS)]
    jobs += [_run_elsewhere(connect, snapshot, queue, plan, reader) for _ in range(sessions - 1)]
    await asyncio.gather(*jobs)
    return sessions


async def _slices(conn: Any, table: str) -> tuple[int, list[tuple[int, int | None]]]:
    """How many sessions, and the block ranges they take one at a time: a few per session, so that one
    finishing early takes more (partitions differ in size, and each range is read in all of them)."""
    cur = await conn.execute(_SIZE, (table,))
    tid_ranges, workers, blocks = await cur.fetchone()
    if not tid_ranges:
        return 1, []
    sessions = max(1, min(workers + 1, blocks // MIN_SLICE_BLOCKS))
    n = sessions * SLICES_PER_SESSION
    edges = [blocks * i // n for i in range(n)]
    return sessions, [(lo, edges[i + 1] if i + 1 < n else None) for i, lo in enumerate(edges)]


def _blocks(lo: int, hi: int | None) -> str:
    """SQL: the rows in blocks ``[lo, hi)`` (of every partition)."""
    return f"ctid >= '({lo},0)'::tid" + (f" AND ctid < '({hi},0)'::tid" if hi is not None else "")


async def _run(conn: Any, queue: list[str], plan: SpanPlan, reader: GroupReader, extra: tuple[str, ...] = ()) -> None:
    """Run queries from ``queue`` in this session until none is left."""
    for setting in _SESSION + extra:
        await conn.execute(setting)
    params = PgDialect.parameters(plan)
    while queue:
        async with conn.cursor() as cur:
            rows: list[Any] = []
            async for row in cur.stream(queue.pop(), params, size=SUM_CHUNK):
                rows.append(row)
                if len(rows) >= SUM_CHUNK:
                    reader.add(rows)
                    rows = []
            reader.add(rows)


async def _run_elsewhere(connect: Connect, snapshot: str, queue: list[str], plan: SpanPlan, reader: GroupReader) -> None:
    """Slices in a session of its own, in the snapshot of the backfill's transaction."""
    conn = await connect()
    try:
        await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        await conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot.replace(chr(39), '')}'")  # (first, before any query)
        await _run(conn, queue, plan, reader, _ONE_PROCESS)
        await conn.execute("COMMIT")
    finally:
        await conn.close()
