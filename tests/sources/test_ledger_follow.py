"""The ledger source following a real SQLite database written by another process."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.sources.writer_process import WriterProcess
from tokentop.config import Config
from tokentop.core.event import UsageEvent
from tokentop.sources import ledger_table
from tokentop.sources.ledger import LedgerSource, make_source

WRITER = Path(__file__).with_name("ledger_writer.py")


class Writer(WriterProcess):
    """The ledger writer process (tests/sources/ledger_writer.py) on the database at ``path``."""

    def __init__(self, path: Path) -> None:
        super().__init__(WRITER, str(path))


@pytest.fixture
def writer(tmp_path):
    made: list[Writer] = []

    def start(path: Path = tmp_path / "ledger.db", mode: str | None = "wal") -> Writer:
        w = Writer(path)
        made.append(w)
        if mode:
            assert w.send_now(f"create {mode}") == "ok"
        return w

    yield start
    for w in made:
        w.close()


class Follower:
    """Runs a source with ``follow=True`` in a task and collects what it yields."""

    def __init__(self, source: LedgerSource) -> None:
        self.source = source
        self.events: list[UsageEvent] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for batch in self.source.batches(follow=True):
            self.events.extend(batch.events)

    async def until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not condition():
                    if self.task.done():
                        self.task.result()
                    await asyncio.sleep(0.01)
        except TimeoutError:
            raise AssertionError(f"timed out; {len(self.events)} events; {self.source.status.to_dict()}") from None

    async def stop(self) -> None:
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        await self.source.aclose()

    def ids(self) -> list[int]:
        return sorted(int(e.request_id) for e in self.events)


def ledger(path: Path, **options) -> LedgerSource:
    return make_source("ledger", {"path": str(path), "poll_interval": 0.02, **options}, Config())


async def test_every_row_of_a_writer_process_is_counted_exactly_once(writer, tmp_path):
    db = tmp_path / "ledger.db"
    w = writer(db)
    follower = Follower(ledger(db, batch_size=64))
    try:
        for _ in range(40):  # one commit per row, racing the polls
            await w.send("insert 1 1")
        assert await w.send("insert 600 100") == "ok 640"  # committed in batches bigger and smaller than a fetch
        await w.send("insert 7 7")
        await follower.until(lambda: len(follower.events) >= 647)
        await asyncio.sleep(0.1)  # a few more polls must not count anything again
        assert follower.ids() == list(range(1, 648))
        assert follower.source.status.state == "ok"
        assert follower.source.status.events == 647
        e = follower.events[0]
        assert (e.provider, e.model, e.prompt_tokens, e.completion_tokens, e.platform) == ("openai", "gpt-4o", 100, 20, "web")
    finally:
        await follower.stop()


@pytest.mark.parametrize("mode, linked", [("wal", False), ("delete", False), ("wal", True)])
async def test_a_commit_wakes_the_follower_before_the_poll_interval(writer, tmp_path, mode, linked):
    # A poll interval far longer than the wait: only the directory watch can deliver the rows in time
    # (also when the ledger is followed through a symlink in another directory).
    db = tmp_path / "ledger.db"
    w = writer(db, mode=mode)
    await w.send("insert 3 3")
    followed = db
    if linked:
        (tmp_path / "elsewhere").mkdir()
        followed = tmp_path / "elsewhere" / "link.db"
        followed.symlink_to(db)
    follower = Follower(ledger(followed, poll_interval=60.0))
    try:
        await follower.until(lambda: len(follower.events) == 3)  # the first poll reads what is there
        await asyncio.sleep(1.5)  # the watch is in place (and the follower no longer polls every 50 ms)
        for expected in (4, 5, 8):
            await w.send(f"insert {expected - len(follower.events)} 1")
            await follower.until(lambda: len(follower.events) == expected, timeout=5.0)
        assert follower.ids() == list(range(1, 9))
    finally:
        await follower.stop()


async def test_the_followers_own_reads_never_wake_it(writer, tmp_path, monkeypatch):
    # Were a read to touch a watched file, every poll would wake the next one: polls would run back to
    # back instead of once per interval. (Counted once the watch is in place: until then, within about
    # a second of the start, the follower polls every SETTLING_INTERVAL.)
    db = tmp_path / "ledger.db"
    w = writer(db)
    await w.send("insert 2 2")
    polls = 0
    poll = LedgerSource._poll

    def counted(self):
        nonlocal polls
        polls += 1
        return poll(self)

    monkeypatch.setattr(LedgerSource, "_poll", counted)
    follower = Follower(ledger(db, poll_interval=0.25))
    try:
        await follower.until(lambda: len(follower.events) == 2)
        await asyncio.sleep(1.5)
        polls = 0
        await asyncio.sleep(1.0)
        assert polls <= 6  # about 4: one per interval
    finally:
        await follower.stop()


async def test_a_writer_holding_the_lock_makes_the_source_wait_not_fail(writer, tmp_path):
    db = tmp_path / "ledger.db"
    w = writer(db, mode="delete")  # a rollback-journal ledger: an exclusive lock blocks readers
    await w.send("insert 5 5")
    follower = Follower(ledger(db, busy_timeout=0.05))
    try:
        await follower.until(lambda: len(follower.events) == 5)
        await w.send("lock")
        await w.send("insert 3 3")  # inside the held transaction
        status = follower.source.status
        await follower.until(lambda: status.state == "stale")
        assert "busy" in status.error or "locked" in status.error
        assert len(follower.events) == 5
        await w.send("unlock")
        await follower.until(lambda: len(follower.events) == 8)
        await follower.until(lambda: status.state == "ok" and status.error is None)
        assert follower.ids() == list(range(1, 9))
    finally:
        await follower.stop()


async def test_the_source_never_blocks_a_checkpoint(writer, tmp_path):
    db = tmp_path / "ledger.db"
    w = writer(db)
    follower = Follower(ledger(db))
    try:
        for round_ in range(1, 6):
            await w.send("insert 200 50")
            await follower.until(lambda: len(follower.events) == 200 * round_)
            busy, log, done = (int(x) for x in (await w.send("checkpoint")).split())
            assert busy == 0 and log == done
        assert os.path.getsize(str(db) + "-wal") == 0  # TRUNCATE succeeded while the source followed
    finally:
        await follower.stop()


async def test_a_table_created_later_is_picked_up(writer, tmp_path):
    db = tmp_path / "ledger.db"
    sqlite3.connect(db).close()  # an empty database, no tables yet
    follower = Follower(ledger(db, table="usage_logs"))
    try:
        status = follower.source.status
        await follower.until(lambda: status.state == "error")
        assert "does not exist" in status.error
        w = writer(db)
        await w.send("insert 4 2")
        await follower.until(lambda: len(follower.events) == 4)
        assert status.state == "ok" and status.error is None
    finally:
        await follower.stop()


async def test_a_missing_file_is_waited_for_and_never_created(writer, tmp_path):
    db = tmp_path / "later.db"
    source = ledger(db)
    batches = [b async for b in source.batches(follow=False)]
    assert batches == []
    assert source.status.state == "waiting" and source.status.error is None
    assert source.status.detail == f"waiting for {db} to appear"
    assert sorted(os.listdir(tmp_path)) == []  # no database, no -wal, no -shm
    follower = Follower(ledger(db))
    try:
        await follower.until(lambda: follower.source.status.state == "waiting")
        assert not db.exists()
        w = writer(db)
        await w.send("insert 3 1")
        await follower.until(lambda: len(follower.events) == 3)
        assert follower.source.status.state == "ok"
    finally:
        await follower.stop()


async def test_the_source_never_writes_to_the_ledger(writer, tmp_path):
    db = tmp_path / "ledger.db"
    w = writer(db, mode="delete")
    await w.send("insert 50 10")
    w.close()
    before = (hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns, sorted(os.listdir(tmp_path)))
    source = ledger(db)
    events = [e async for b in source.batches(follow=False) for e in b.events]
    assert len(events) == 50
    after = (hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns, sorted(os.listdir(tmp_path)))
    assert after == before


async def test_a_replaced_file_is_followed_without_counting_rows_twice(writer, tmp_path):
    db = tmp_path / "ledger.db"
    w = writer(db)
    await w.send("insert 10 5")
    follower = Follower(ledger(db))
    try:
        await follower.until(lambda: len(follower.events) == 10)
        # a copy of the same ledger with more rows replaces it (restore, sync): only the new rows count.
        # A WAL ledger is replaced after a TRUNCATE checkpoint: a -wal with frames left beside a new file
        # would be applied to it by every SQLite client (docs/sources-sqlite.md)
        assert (await w.send("checkpoint")).startswith("0 ")
        w.close()
        with sqlite3.connect(db) as src, sqlite3.connect(tmp_path / "superset.db") as dst:
            src.backup(dst)
        superset = Writer(tmp_path / "superset.db")
        superset.send_now("create wal")
        superset.send_now("insert 5 5")
        superset.close()
        os.replace(tmp_path / "superset.db", db)
        await follower.until(lambda: len(follower.events) == 15)
        # a fresh ledger (rotation) replaces it: its rows are new, ids restart at 1
        fresh = Writer(tmp_path / "fresh.db")
        fresh.send_now("create wal")
        fresh.send_now("insert 4 4")
        fresh.close()
        os.replace(tmp_path / "fresh.db", db)
        await follower.until(lambda: len(follower.events) == 19)
        await asyncio.sleep(0.1)
        assert len(follower.events) == 19
        assert follower.ids() == sorted(list(range(1, 16)) + [1, 2, 3, 4])
        assert follower.source.status.state == "ok"
    finally:
        await follower.stop()


async def test_a_replacing_ledger_that_overlaps_the_last_rows_counted_skips_them(tmp_path, monkeypatch):
    # Rows are remembered (fingerprinted) lazily, once they may matter: with a window of 5 and fetches
    # of 6 rows, the window is rows 6..10 when the ledger of rows 1..10 is replaced by one holding
    # copies of rows 5, 6, 8 and 9 and a new row: 6, 8 and 9 were counted, 5 has left the window.
    monkeypatch.setattr(ledger_table, "RECENT", 5)
    db = tmp_path / "ledger.db"

    def write(path: Path, ids: list[int]) -> None:
        with sqlite3.connect(path) as con:
            con.execute("CREATE TABLE usage_logs (id INTEGER PRIMARY KEY, created_at TEXT, model TEXT,"
                        " prompt_tokens INTEGER, completion_tokens INTEGER)")
            con.executemany("INSERT INTO usage_logs VALUES (?, ?, 'gpt-4o', ?, 1)",
                            [(i, f"2025-06-01T10:00:{i:02d}Z", i) for i in ids])
        con.close()

    write(db, list(range(1, 11)))
    follower = Follower(ledger(db, batch_size=6))
    try:
        await follower.until(lambda: len(follower.events) == 10)
        write(tmp_path / "next.db", [5, 6, 8, 9, 11])
        os.replace(tmp_path / "next.db", db)
        await follower.until(lambda: len(follower.events) == 12)
        await asyncio.sleep(0.1)
        assert follower.ids() == sorted([*range(1, 11), 5, 11])
        assert follower.source.status.skip_reasons == {"already_counted": 3}
    finally:
        await follower.stop()


async def test_a_keyed_table_is_delivered_batch_by_batch(tmp_path):
    # LiteLLM's spend logs key each row by request_id: the normaliser holds a key until it is delivered,
    # so a ledger that never delivered would hold every row it ever read.
    db = tmp_path / "litellm.db"
    with sqlite3.connect(db) as con:
        con.execute('CREATE TABLE "LiteLLM_SpendLogs" (request_id TEXT, "startTime" TEXT, model TEXT, spend REAL,'
                    ' prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER, "user" TEXT)')
        rows = [(f"req-{i}", f"2025-06-01T10:{i // 60:02d}:{i % 60:02d}Z", "gpt-4o", 0.01, 10, 2, 12, "u")
                for i in range(150)]
        con.executemany('INSERT INTO "LiteLLM_SpendLogs" VALUES (?, ?, ?, ?, ?, ?, ?, ?)', rows + rows[:5])
    con.close()
    follower = Follower(ledger(db, table="LiteLLM_SpendLogs", batch_size=40))
    try:
        await follower.until(lambda: follower.source.status.to_dict()["events"] >= 150)
        await asyncio.sleep(0.1)
        assert len(follower.events) == 150  # the five rows written again count once
        assert {e.format for e in follower.events} == {"litellm.spendlogs"}
        assert follower.source._normaliser._superseding._fresh == {}  # noqa: SLF001 - nothing held back
    finally:
        await follower.stop()


async def test_a_follower_stops_when_cancelled_as_a_commit_wakes_it(writer, tmp_path):
    # A cancellation that meets a wake-up must still end the follower (asyncio.wait_for on 3.11
    # swallows it: the headless demo then waited for ever for a follower that polled on).
    db = tmp_path / "ledger.db"
    w = writer(db)
    await w.send("insert 2 2")
    follower = Follower(ledger(db, poll_interval=60.0))
    try:
        await follower.until(lambda: len(follower.events) == 2)
        await asyncio.sleep(0.1)  # waiting for a change
        assert follower.source.watcher is not None
        follower.source.watcher.wake.set()  # a commit's wake-up and the stop, in the same loop turn
        follower.task.cancel()
        done, _ = await asyncio.wait([follower.task], timeout=5.0)
        assert done and follower.task.cancelled(), "the follower went on after it was cancelled"
    finally:
        await follower.stop()
