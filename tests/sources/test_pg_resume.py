"""The postgres source's resume state, start option and notify channel, on a real server with a writer
process: a restored state reads on from where the last run stopped (nothing summed again, nothing lost
or counted twice), ``end``/``tail:N``/``since:`` place the start, and a NOTIFY wakes the follower long
before its next poll."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

from tests.sources import pg_tables_sql as schemas
from tests.sources.test_pg_follow import FAST, Follower, gateway_table, reader_env, tools  # noqa: F401
from tokentop.config import Config
from tokentop.sources.postgres import make_source


def source(db, table: str, **options):
    return make_source("pg", {"dsn": db.dsn(table=table), **FAST, **options}, Config())


def counted(followers) -> int:
    """Requests counted by followers: rows read one by one plus summed requests."""
    return sum(len(f.events) + sum(s.counts.requests for s in f.summaries if s.family == "by_key")
               for f in followers)


async def test_resume_by_key_reads_on_without_summing_again(pg_db, tools):
    writer, follow = tools
    gateway_table(pg_db, rows=3000)
    first = follow("usage_logs")
    await first.until(lambda: first.summaries and first.source.progress.complete)
    backfilled = len(first.events)
    w = writer()
    await w.send("gateway 20")
    await first.until(lambda: len(first.events) >= backfilled + 20)
    await first.stop()
    state = first.source.checkpoint()
    assert state["by"] == "key" and state["table"] == '"usage_logs"' and state["high_water"] > 3000
    await w.send("gateway 30")  # while stopped
    resumed = source(pg_db, "usage_logs")
    assert resumed.restore(state) is True
    second = Follower(resumed)
    try:
        await second.until(lambda: len(second.events) >= 30)
        await w.send("gateway 5")
        await second.until(lambda: len(second.events) >= 35)
        await asyncio.sleep(0.3)
        assert not second.summaries and len(second.events) == 35  # nothing summed or read again
        assert resumed.progress is not None and resumed.progress.complete
    finally:
        await second.stop()
    (total,), = pg_db.query("SELECT count(*) FROM usage_logs WHERE coalesce(prompt_tokens, 0) >= 0")
    assert counted([first, second]) == total
    assert not set(first.ids()) & set(second.ids())


async def test_resume_by_time_keeps_the_window_seen(pg_db, tools):
    writer, follow = tools
    pg_db.sql(schemas.LITELLM)
    first = follow("LiteLLM_SpendLogs", lookback=30)
    await first.until(lambda: first.source.status.state == "ok")
    w = writer()
    await w.send("litellm 40 0")
    await first.until(lambda: len(first.events) >= 40)
    await first.stop()
    state = first.source.checkpoint()
    assert state["by"] == "time" and len(state["seen"]) == 40
    await w.send("litellm 10 5")  # late rows, older than the newest counted, written while stopped
    resumed = source(pg_db, "LiteLLM_SpendLogs", lookback=30)
    assert resumed.restore(state)
    second = Follower(resumed)
    try:
        await second.until(lambda: len(second.events) >= 10)
        await asyncio.sleep(0.3)
        assert len(second.events) == 10 and not set(first.ids()) & set(second.ids())
    finally:
        await second.stop()


async def test_resume_state_of_another_table_is_ignored_with_a_note(pg_db, reader_env):
    gateway_table(pg_db, rows=50)
    resumed = source(pg_db, "usage_logs")
    assert resumed.restore({"kind": "postgres", "version": 1, "table": '"other"', "by": "key", "high_water": 7})
    async for _ in resumed.batches(follow=False):
        pass
    await resumed.aclose()
    assert resumed.status.note.startswith("resume state ignored: it is of table")
    assert resumed.status.events == 50  # read from the start instead


async def test_start_end_tail_and_since(pg_db, tools):
    writer, follow = tools
    gateway_table(pg_db, rows=2000)
    end = follow("usage_logs", start="end")
    tail = follow("usage_logs", start="tail:5")
    now = datetime.now(timezone.utc)
    since_at = (now - timedelta(days=20)).isoformat()
    since = follow("usage_logs", start=f"since:{since_at}")
    for f in (end, tail, since):
        await f.until(lambda f=f: f.source.status.state == "ok")
    await since.until(lambda: since.summaries)
    w = writer()
    await w.send("gateway 3")
    await end.until(lambda: len(end.events) == 3)
    await tail.until(lambda: len(tail.events) == 8)
    assert not end.summaries and not tail.summaries
    (recent,), = pg_db.query(f"SELECT count(*) FROM usage_logs WHERE created_at >= '{since_at}'"
                             " AND coalesce(prompt_tokens, 0) >= 0")
    await since.until(lambda: counted([since]) == recent)


async def test_notify_wakes_the_follower_before_its_poll(pg_db, tools):
    writer, follow = tools
    gateway_table(pg_db)
    f = follow("usage_logs", poll_interval=60, notify_channel="usage_inserted")
    await f.until(lambda: f.source.status.state == "ok" and f.source._wakeup.listening)
    w = writer()
    await w.send("gateway 2")
    started = time.monotonic()
    await w.send("sql NOTIFY usage_inserted")
    await f.until(lambda: len(f.events) == 2, timeout=10)
    assert time.monotonic() - started < 5  # (the next poll is a minute away)
    await w.send("gateway 1")
    await w.send("sql SELECT pg_notify('usage_inserted', 'id=3')")
    await f.until(lambda: len(f.events) == 3, timeout=10)
    assert f.source.status.note is None


async def test_notify_without_a_notifier_still_polls(pg_db, tools):
    writer, follow = tools
    gateway_table(pg_db)
    f = follow("usage_logs", poll_interval=0.2, notify_channel="nobody_notifies")
    w = writer()
    await w.send("gateway 2")
    await f.until(lambda: len(f.events) == 2)
