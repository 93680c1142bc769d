"""The postgres source following tables a writer process inserts into, on a real server: new partitions,
late LiteLLM flushes, a server restart, and every failure as a state."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.pg_server import READER, READER_PASSWORD
from tests.sources import pg_tables_sql as schemas
from tests.sources.writer_process import WriterProcess
from tokentop.config import Config
from tokentop.sources import postgres
from tokentop.sources.postgres import make_source

WRITER = Path(__file__).with_name("pg_writer.py")
FAST = {"poll_interval": 0.1}


class Writer(WriterProcess):
    """The PostgreSQL writer process (tests/sources/pg_writer.py); every command must succeed."""

    close_timeout = 20.0

    def __init__(self, conninfo: str) -> None:
        super().__init__(WRITER, conninfo)

    async def send(self, command: str) -> str:
        reply = await super().send(command)
        assert reply.startswith("ok"), reply
        return reply


class Follower:
    def __init__(self, source) -> None:
        self.source, self.events, self.summaries = source, [], []
        self.states: list[str] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for batch in self.source.batches(follow=True):
            self.events += batch.events
            self.summaries += batch.summaries

    def ids(self) -> Counter:
        return Counter(e.request_id for e in self.events)

    async def until(self, condition, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            self.states.append(self.source.status.state)
            if self.task.done():
                self.task.result()
            assert time.monotonic() < deadline, f"timed out: {self.source.status.to_dict()}"
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.source.aclose()


@pytest.fixture
def reader_env(monkeypatch):
    monkeypatch.setenv("PGPASSWORD", READER_PASSWORD)


@pytest.fixture
async def tools(pg_db, reader_env):
    writers: list[Writer] = []
    followers: list[Follower] = []

    def writer() -> Writer:
        writers.append(Writer(pg_db.server.admin_conninfo(pg_db.name)))
        return writers[-1]

    def follow(table: str, **options) -> Follower:
        source = make_source("pg", {"dsn": pg_db.dsn(table=table), **FAST, **options}, Config())
        followers.append(Follower(source))
        return followers[-1]

    yield writer, follow
    for f in followers:
        await f.stop()
    for w in writers:
        w.close()


def gateway_table(db, rows: int = 0) -> None:
    db.sql(schemas.GATEWAY)
    now = datetime.now(timezone.utc)
    for statement in schemas.month_partitions(now - timedelta(days=40), 3):
        db.sql(statement)
    if rows:
        db.insert("usage_logs", schemas.GATEWAY_COLUMNS, list(schemas.gateway_rows(rows, now.timestamp(), span_days=30)))


async def test_gateway_followed_live_across_a_new_partition(pg_db, tools):
    writer, follow = tools
    gateway_table(pg_db, rows=3000)
    f = follow("usage_logs")
    await f.until(lambda: f.summaries and len(f.events) >= 900)  # history summed, the newest rows read
    backfilled = len(f.events)
    w = writer()
    await w.send("gateway 150")
    await f.until(lambda: len(f.events) >= backfilled + 150)
    # a month's partition appears (as at a month boundary) and rows land in it while following
    start = (datetime.now(timezone.utc).replace(day=1) + timedelta(days=70)).replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    await w.send(f"sql CREATE TABLE usage_logs_next PARTITION OF usage_logs FOR VALUES FROM ('{start.date()}')"
                 f" TO ('{end.date()}')")
    reply = await w.send("gateway 50 2")
    last = int(reply.split()[1])
    await f.until(lambda: str(last) in f.ids())
    ids = f.ids()
    assert max(ids.values()) == 1  # nothing counted twice
    (total,), = pg_db.query("SELECT count(*) FROM usage_logs WHERE coalesce(prompt_tokens, 0) >= 0")
    summed = sum(s.counts.requests for s in f.summaries if s.family == "by_key")
    assert summed + len(f.events) == total  # nothing lost
    assert "partitioned" in (f.source.status.detail or "")


async def test_litellm_late_flushes_counted_once(pg_db, tools):
    writer, follow = tools
    pg_db.sql(schemas.LITELLM)
    f = follow("LiteLLM_SpendLogs", lookback=30)
    await f.until(lambda: f.source.status.state == "ok")
    w = writer()
    await w.send("litellm 40 0")
    await f.until(lambda: len(f.events) >= 40)
    await w.send("litellm 30 12")  # a batch flushed late: older start times than rows already read
    await w.send("litellm 20 0")
    await f.until(lambda: len(f.events) >= 90)
    await asyncio.sleep(0.5)  # more polls over the same window: nothing is counted again
    ids = f.ids()
    assert len(ids) == 90 and max(ids.values()) == 1
    assert f.source.status.state == "ok"


async def test_server_restart_mid_follow(pg_db, pg_server, tools):
    writer, follow = tools
    gateway_table(pg_db)
    f = follow("usage_logs")
    w = writer()
    await w.send("gateway 60")
    await f.until(lambda: len(f.events) >= 60)
    await asyncio.to_thread(pg_server.restart, 1.0)
    await f.until(lambda: f.source.status.state == "error" or "error" in f.states, 10)
    await w.send("gateway 60")  # (the writer reconnects too)
    await f.until(lambda: len(f.events) >= 120, 40)
    await f.until(lambda: f.source.status.state == "ok")
    ids = f.ids()
    assert len(ids) == 120 and max(ids.values()) == 1


async def states_of(options: dict) -> dict:
    source = make_source("pg", {**FAST, **options}, Config())
    async with asyncio.timeout(30):
        async for _ in source.batches(follow=False):
            pass
    await source.aclose()
    return source.status.to_dict()


async def test_connection_refused(reader_env):
    from tests.pg_server import free_port

    status = await states_of({"dsn": f"postgresql://{READER}@127.0.0.1:{free_port()}/x?table=usage_logs"})
    assert status["status"] == "error" and "connection refused" in status["error"]


async def test_authentication_failed_never_shows_the_password(pg_db, monkeypatch):
    monkeypatch.setenv("WRONG_PW", "wr0ng-Pass-123")
    status = await states_of({"dsn": pg_db.dsn(table="usage_logs"), "password_env": "WRONG_PW"})
    assert status["status"] == "error" and "authentication failed for user reader" in status["error"]
    in_url = await states_of({"dsn": pg_db.dsn(password="wr0ng-Pass-123", table="usage_logs")})
    for shown in (status, in_url):
        assert "wr0ng-Pass-123" not in repr(shown)
    assert in_url["detail"].startswith("postgresql://reader@127.0.0.1")


async def test_database_and_table_missing_then_created(pg_db, pg_server, tools):
    status = await states_of({"dsn": pg_server.dsn("no_such_db", READER) + "?table=usage_logs"})
    assert "database 'no_such_db' does not exist" in status["error"]
    writer, follow = tools
    f = follow("usage_logs")
    await f.until(lambda: f.source.status.state == "error")
    assert "table usage_logs does not exist (yet)" in f.source.status.error
    gateway_table(pg_db)
    w = writer()
    await w.send("gateway 5")
    await f.until(lambda: len(f.events) == 5)
    assert f.source.status.state == "ok"


async def test_permission_denied(pg_db, reader_env):
    gateway_table(pg_db)
    pg_db.sql("REVOKE SELECT ON usage_logs FROM reader")
    status = await states_of({"dsn": pg_db.dsn(table="usage_logs")})
    assert status["status"] == "error" and "permission denied" in status["error"]


async def test_statement_timeout(pg_db, reader_env):
    gateway_table(pg_db, rows=50)
    pg_db.sql("CREATE VIEW slow_usage AS SELECT u.*, pg_sleep(0.05)::text AS nap FROM usage_logs u")
    pg_db.sql("GRANT SELECT ON slow_usage TO reader")
    status = await states_of({"dsn": pg_db.dsn(table="slow_usage"), "statement_timeout": 0.3, "preset": "gateway"})
    assert status["status"] == "error" and "statement_timeout" in status["error"]


async def test_columns_added_and_dropped(pg_db, tools, monkeypatch):
    monkeypatch.setattr(postgres, "COLUMN_CHECK_EVERY", 0.2)
    writer, follow = tools
    gateway_table(pg_db)
    f = follow("usage_logs")
    w = writer()
    await w.send("gateway 3")
    await f.until(lambda: len(f.events) == 3)
    await w.send("sql ALTER TABLE usage_logs ADD COLUMN platform text DEFAULT 'web'")
    await asyncio.sleep(0.5)
    await w.send("gateway 3")
    await f.until(lambda: len(f.events) == 6)
    assert [e.platform for e in f.events[3:]] == ["web"] * 3
    await w.send("sql ALTER TABLE usage_logs DROP COLUMN status")
    await w.send("gateway 0")  # (nothing: the writer's insert names status)
    await w.send("sql INSERT INTO usage_logs (created_at, prompt_tokens, completion_tokens) VALUES (now(), 1, 2)")
    await f.until(lambda: len(f.events) == 7)
    assert f.source.status.state == "ok"
    assert max(f.ids().values()) == 1
