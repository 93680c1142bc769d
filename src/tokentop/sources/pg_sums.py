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
SLICES_PER_SESSION: Final = 2
MAX_SLICE_BLOCKS: Final = 65_536
"""No slice above 512 MiB of each partition: a query stays seconds long, far below ``statement_timeout``
(60 s by default) however large the table."""
MIN_SLICE_BLOCKS: Final = 4096
"""No slice below 32 MiB of table: sessions cost more than they save under that."""
JIT_FROM_BLOCKS: Final = 12_000
"""Blocks (96 MiB) a query reads from which JIT compiling its expressions pays: the compile costs about
a second; the scan then runs ~30 % faster (measured on seed 003's table: 1 M rows, one query, 1.3 s
without, 2.8 s with; ~5 M rows, 27-32 s without, 18-22 s with). Below it JIT is off."""
_SESSION = ("SET LOCAL work_mem = '64MB'", "SET LOCAL enable_sort = off")
"""For the grouped scan: the hash aggregate in memory (it spills, never fails, past that); no sort-based
grouping (the planner, expecting a group per row, would sort every row)."""
_NO_JIT = ("SET LOCAL jit = off",)
_ONE_PROCESS = ("SET LOCAL max_parallel_workers_per_gather = 0",)
"""A slice is one core's share: no workers of its own."""
_SIZE = """SELECT current_setting('server_version_num')::int >= 140000,
    current_setting('max_parallel_workers_per_gather')::int,
    coalesce(max(pg_relation_size(relid)), 0) / current_setting('block_size')::int,
    coalesce(sum(pg_relation_size(relid)), 0)::bigint / current_setting('block_size')::int
    FROM pg_partition_tree(%s::regclass) WHERE isleaf"""

Connect = Callable[[], Awaitable[Any]]


async def scan(conn: Any, connect: Connect, table: str, query: GroupedQuery, plan: SpanPlan,
               reader: GroupReader, split: bool) -> int:
    """Run ``query`` (inside ``conn``'s REPEATABLE READ transaction) into ``reader``; ``split``: over
    several sessions when that pays. Returns the number of sessions used."""
    sessions, slices, blocks = await _slices(conn, table, split)
    if sessions < 2:
        await _run(conn, [query.sql()], plan, reader, _jit(blocks))
        return 1
    cur = await conn.execute("SELECT pg_export_snapshot()")
    (snapshot,) = await cur.fetchone()
    queue = [query.sql(_blocks(lo, hi)) for lo, hi in reversed(slices)]  # (popped from the end)
    settings = _ONE_PROCESS + _jit(blocks // len(slices))
    jobs = [_run(conn, queue, plan, reader, settings)]
    jobs += [_run_elsewhere(connect, snapshot, queue, plan, reader, settings) for _ in range(sessions - 1)]
    await asyncio.gather(*jobs)
    return sessions


async def _slices(conn: Any, table: str, split: bool) -> tuple[int, list[tuple[int, int | None]], int]:
    """How many sessions, the block ranges they take one at a time (a few per session, the ranges that
    cover the most partitions first, so that one finishing early takes more), and the table's blocks."""
    cur = await conn.execute(_SIZE, (table,))
    tid_ranges, workers, largest, blocks = await cur.fetchone()
    if not tid_ranges or not split:
        return 1, [], blocks
    sessions = max(1, min(workers + 1, largest // MIN_SLICE_BLOCKS))
    n = max(sessions * SLICES_PER_SESSION, -(-largest // MAX_SLICE_BLOCKS))
    edges = [largest * i // n for i in range(n)]
    return sessions, [(lo, edges[i + 1] if i + 1 < n else None) for i, lo in enumerate(edges)], blocks


def _jit(blocks: int) -> tuple[str, ...]:
    return () if blocks >= JIT_FROM_BLOCKS else _NO_JIT


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


async def _run_elsewhere(connect: Connect, snapshot: str, queue: list[str], plan: SpanPlan, reader: GroupReader,
                         settings: tuple[str, ...]) -> None:
    """Slices in a session of its own, in the snapshot of the backfill's transaction."""
    conn = await connect()
    try:
        await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        await conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot.replace(chr(39), '')}'")  # (first, before any query)
        await _run(conn, queue, plan, reader, settings)
        await conn.execute("COMMIT")
    finally:
        await conn.close()
