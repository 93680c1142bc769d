"""History summed by PostgreSQL equals row-by-row normalisation of the same table, cell for cell."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest

from tests.conftest import FakeClock
from tests.pg_server import READER_PASSWORD
from tests.sources import pg_tables_sql as schemas
from tokentop.config import Config
from tokentop.core.aggregate import Aggregator
from tokentop.core.counts import COUNTER_FIELDS, Counts
from tokentop.core.plans import PlanBook, Plan
from tokentop.core.periods import Period
from tokentop.ingest import apply_batch
from tokentop.sources.postgres import make_source

NOW = 1_790_000_000.0  # 2026-09-21 15:33:20 UTC


def plans() -> PlanBook:
    """A billing period starting at 18:30 UTC (Asia/Kolkata) and users with their own day periods."""
    return PlanBook(
        plans={"pro": Plan("pro", 2_000_000, Period.parse("day", "America/New_York")),
               "burst": Plan("burst", 500_000, Period.parse("rolling 5h"))},
        assignments={"company3": "pro", "customer2": "pro", "00000000-0000-0000-0000-000000000007": "pro",
               "company4": "burst"},
        billing_period=Period.parse("month", "Asia/Kolkata"))


async def read_into(source, agg: Aggregator) -> int:  # noqa: ANN001
    """Read a source's history to its end into ``agg`` (as ``snapshot`` does): the summaries it handed
    over (0: read row by row). The source must not have failed."""
    summaries = 0
    async for batch in source.batches(follow=False):
        summaries += len(batch.summaries)
        apply_batch(agg, batch)
    await source.aclose()
    assert source.status.state != "error", source.status.error
    return summaries


async def aggregate(db, table: str, summed: bool, clock: FakeClock, book: PlanBook | None = None,
                    **options) -> tuple[Aggregator, object]:
    book = book or plans()
    config = Config(plans=book)
    source = make_source("pg", {"dsn": db.dsn(table=table), "sum_history": summed, **options}, config, clock=clock)
    agg = Aggregator(book, clock=clock)
    return agg, (source, await read_into(source, agg))


def assert_same(summed: Aggregator, rows: Aggregator) -> None:
    for agg in (summed, rows):  # (late events wait in their own cells until the merged ones are read)
        agg._merge_late()
    assert summed.events == rows.events
    assert summed.latest_ts == rows.latest_ts
    assert _cells(summed.total) == _cells(rows.total)
    assert {k: _cells(v) for k, v in summed.periods.items()} == {k: _cells(v) for k, v in rows.periods.items()}
    assert {k: (_cells(v), v.folded) for k, v in summed.hours.items()} == {
        k: (_cells(v), v.folded) for k, v in rows.hours.items()}
    assert {k: _cells(v) for k, v in summed.minutes.items()} == {k: _cells(v) for k, v in rows.minutes.items()}
    assert summed.minute_floor == rows.minute_floor
    assert summed._period_tokens == rows._period_tokens
    for window in ("5m", "1h", "24h", "period", "all"):
        assert _plain(summed.overview(window, NOW)) == _plain(rows.overview(window, NOW))
    assert summed.standings(NOW) == rows.standings(NOW)


def _cells(cells) -> dict:
    return {family: {key: _counts(c) for key, c in getattr(cells, family).items() if c.requests}
            for family in ("by_key", "by_user")}


def _counts(c: Counts) -> tuple:
    """Every counter; the cost rounded (summed in another order) and the times exact."""
    return (*(getattr(c, f) for f in COUNTER_FIELDS if f != "cost"), round(c.cost, 9), c.first_ts, c.last_ts)


def _plain(overview) -> tuple:
    totals, groups = overview
    return _counts(totals), {d: {k: _counts(v) for k, v in g.items()} for d, g in groups.items()}


@pytest.fixture
def reader_password(monkeypatch):
    monkeypatch.setenv("PGPASSWORD", READER_PASSWORD)


async def test_gateway_sums_equal_rows(pg_db, reader_password):
    clock = FakeClock(NOW)
    pg_db.sql(schemas.GATEWAY)
    for statement in schemas.month_partitions(datetime.fromtimestamp(NOW - 45 * 86400, timezone.utc), 3):
        pg_db.sql(statement)
    pg_db.insert("usage_logs", schemas.GATEWAY_COLUMNS, list(schemas.gateway_rows(6000, NOW)))
    summed, (source, n_summaries) = await aggregate(pg_db, "usage_logs", True, clock)
    rows, (row_source, none) = await aggregate(pg_db, "usage_logs", False, clock)
    assert n_summaries > 0 and none == 0
    assert_same(summed, rows)
    assert source.status.skipped == row_source.status.skipped > 0  # the negative counts, either way
    assert dict(source.status.skip_reasons) == dict(row_source.status.skip_reasons)
    assert source.status.events == row_source.status.events
    assert 950 <= len(summed.recent) <= len(rows.recent) == 1000  # the newest rows, read one by one
    assert list(summed.recent) == list(rows.recent)[-len(summed.recent):]
    # independently of tokentop: requests and tokens of the rows a reader would count
    (count, tokens), = pg_db.query(
        "SELECT count(*), sum(coalesce(total_tokens, coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0)))"
        " FROM usage_logs WHERE coalesce(prompt_tokens, 0) >= 0")
    totals = summed.totals("all", NOW)
    assert (totals.requests, totals.total_tokens) == (count, tokens)


async def test_prisma_sums_equal_rows(pg_db, reader_password):
    clock = FakeClock(NOW)
    pg_db.sql(schemas.PRISMA)
    pg_db.insert("usage_logs", schemas.PRISMA_COLUMNS, list(schemas.prisma_rows(4000, NOW)))
    summed, (source, n) = await aggregate(pg_db, "usage_logs", True, clock)
    rows, _ = await aggregate(pg_db, "usage_logs", False, clock)
    assert n > 0
    assert_same(summed, rows)
    assert "prisma" in (source.status.detail or "")
    platforms = summed.group("platform", "all", NOW)
    assert {"facebook", "instagram", "5"} <= set(platforms)


async def test_litellm_sums_equal_rows(pg_db, reader_password):
    clock = FakeClock(NOW)
    pg_db.sql(schemas.LITELLM)
    pg_db.insert('"LiteLLM_SpendLogs"', schemas.LITELLM_COLUMNS, list(schemas.litellm_rows(4000, NOW)))
    summed, (source, n) = await aggregate(pg_db, "LiteLLM_SpendLogs", True, clock)
    rows, _ = await aggregate(pg_db, "LiteLLM_SpendLogs", False, clock)
    assert n > 0
    assert_same(summed, rows)
    totals = summed.totals("all", NOW)
    assert totals.missing > 0 and totals.errors > 0 and totals.cached_tokens > 0 and totals.cache_write_tokens > 0
    assert math.isclose(totals.cost, pg_db.query('SELECT sum(spend) FROM "LiteLLM_SpendLogs"')[0][0])


async def test_sums_split_over_sessions_equal_rows(pg_db, reader_password, monkeypatch):
    """The grouped scan split into block ranges over several sessions sharing one snapshot (as on a
    large table), with a month billing period only (segments compared one by one, not width_bucket)."""
    from tokentop.sources import pg_sums

    clock = FakeClock(NOW)
    pg_db.sql(schemas.GATEWAY)
    for statement in schemas.month_partitions(datetime.fromtimestamp(NOW - 45 * 86400, timezone.utc), 3):
        pg_db.sql(statement)
    pg_db.insert("usage_logs", schemas.GATEWAY_COLUMNS, list(schemas.gateway_rows(6000, NOW)))
    monkeypatch.setattr(pg_sums, "MIN_SLICE_BLOCKS", 1)
    sessions = []
    scan = pg_sums.scan

    async def counted(*args, **kwargs):
        sessions.append(await scan(*args, **kwargs))
        return sessions[-1]

    monkeypatch.setattr(pg_sums, "scan", counted)
    monthly = PlanBook(billing_period=Period.parse("month", "UTC"))
    summed, (source, n) = await aggregate(pg_db, "usage_logs", True, clock, book=monthly)
    rows, _ = await aggregate(pg_db, "usage_logs", False, clock, book=monthly)
    assert sessions == [3] and n > 0  # (max_parallel_workers_per_gather = 2 by default: 3 sessions)
    assert_same(summed, rows)
    assert source.status.skipped > 0
