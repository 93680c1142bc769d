"""The ledger source with a writer process: a WAL ledger replaced by a rename is drained first, resume
states (restarts, a ledger replaced while stopped, states that do not fit), the start policy (end,
tail:N, since:TIME by bisection on the mark) and the progress of reading history."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.sources.test_ledger_follow import Follower, Writer, ledger
from tokentop.sources.ledger import LedgerSource

ROW = ("INSERT INTO usage_logs (id, created_at, user_id, provider, model, prompt_tokens, completion_tokens,"
       " total_tokens, token_source, status) VALUES ({id}, '{at}', 'u', 'openai', 'gpt-4o', 10, 2, 12, 'actual', 'ok')")


class Gated(Follower):
    """A follower that takes the next batch only while ``gate`` is set: with the gate closed the source
    stays suspended at its yield, reading nothing (a slow consumer). Keeps the checkpoint of each batch."""

    def __init__(self, source: LedgerSource, state: dict[str, Any] | None = None) -> None:
        if state is not None:
            assert source.restore(state)
        self.gate = asyncio.Event()
        self.gate.set()
        self.state = source.checkpoint()
        super().__init__(source)

    async def _run(self) -> None:
        async for batch in self.source.batches(follow=True):
            self.events.extend(batch.events)
            self.state = orjson.loads(orjson.dumps(self.source.checkpoint()))
            await self.gate.wait()

    async def has(self, ids: Any, timeout: float = 10.0) -> None:
        wanted = set(ids)
        await self.until(lambda: wanted <= set(self.ids()), timeout)

    async def stop(self) -> dict[str, Any]:  # type: ignore[override]
        self.gate.set()
        await super().stop()
        return self.state


def insert(writer: Writer, first: int, count: int, at: str = "2026-01-01T00:00:00Z") -> list[int]:
    """``count`` rows with ids from ``first``, one commit."""
    writer.send_now("sql BEGIN")
    for i in range(first, first + count):
        writer.send_now("sql " + ROW.format(id=i, at=at))
    writer.send_now("sql COMMIT")
    return list(range(first, first + count))


def fresh_ledger(path: Path) -> None:
    w = Writer(path)
    w.send_now("create wal")
    w.close()


async def test_a_wal_ledger_replaced_after_a_checkpoint_is_drained_to_its_last_commit(tmp_path):
    db = tmp_path / "ledger.db"
    writer = Writer(db)
    writer.send_now("create wal")
    follower = Gated(ledger(db, poll_interval=0.05))
    written: list[int] = []
    try:
        for gen in range(1, 6):
            written += insert(writer, gen * 1000, 5)
            await follower.has(written)
            follower.gate.clear()  # the source now waits at its yield: it reads nothing more
            written += insert(writer, gen * 1000 + 5, 7)  # the last commit before the replacement
            assert writer.send_now("checkpoint").startswith("0 ")
            writer.close()
            fresh_ledger(tmp_path / "next.db")
            os.replace(tmp_path / "next.db", db)
            follower.gate.set()
            await follower.has(written)  # drained through the old connection
            writer = Writer(db)  # the new ledger's writer starts
        written += insert(writer, 9000, 3)
        await follower.has(written)
        await asyncio.sleep(0.2)
        assert follower.ids() == sorted(written)
    finally:
        writer.close()
        await follower.stop()


async def test_rows_written_to_the_new_ledger_before_the_drain_are_not_mistaken_for_old_ones(tmp_path):
    """If the new ledger's writer commits before the source looks, the old connection would read the
    new database through the shared -wal: the drain is skipped (noted), the new rows read once."""
    db = tmp_path / "ledger.db"
    writer = Writer(db)
    writer.send_now("create wal")
    follower = Gated(ledger(db, poll_interval=0.05))
    try:
        first = insert(writer, 1, 5)
        await follower.has(first)
        follower.gate.clear()
        assert writer.send_now("checkpoint").startswith("0 ")
        writer.close()
        fresh_ledger(tmp_path / "next.db")
        os.replace(tmp_path / "next.db", db)
        writer = Writer(db)
        new = insert(writer, 100, 4)  # into the -wal both connections use
        follower.gate.set()
        await follower.has(new)
        await asyncio.sleep(0.2)
        assert follower.ids() == first + new
    finally:
        writer.close()
        await follower.stop()


async def test_a_restart_reads_only_what_was_committed_since(tmp_path):
    db = tmp_path / "ledger.db"
    writer = Writer(db)
    writer.send_now("create wal")
    try:
        ids = insert(writer, 1, 10)
        run = Gated(ledger(db))
        await run.has(ids)
        state = await run.stop()
        assert state["kind"] == "sqlite" and state["tables"][0]["hw"] == 10
        more = insert(writer, 11, 5)
        run = Gated(ledger(db), state)
        await run.has(more)
        await asyncio.sleep(0.1)
        state = await run.stop()
        assert run.ids() == more
        # replaced while stopped by a copy with more rows: the anchor row is found, only new rows count
        writer.send_now("checkpoint")
        writer.close()
        with sqlite3.connect(db) as src, sqlite3.connect(tmp_path / "copy.db") as dst:
            src.backup(dst)
        copy = Writer(tmp_path / "copy.db")
        newer = insert(copy, 16, 3)
        copy.close()
        os.replace(tmp_path / "copy.db", db)
        run = Gated(ledger(db), state)
        await run.has(newer)
        await asyncio.sleep(0.1)
        state = await run.stop()
        assert run.ids() == newer
        # replaced while stopped by a fresh ledger (ids start again): read from its start
        fresh_ledger(tmp_path / "fresh.db")
        fresh = Writer(tmp_path / "fresh.db")
        rotated = insert(fresh, 1, 4)
        fresh.close()
        os.replace(tmp_path / "fresh.db", db)
        run = Gated(ledger(db), state)
        await run.has(rotated)
        await run.stop()
        assert run.ids() == rotated
        writer = Writer(db)
    finally:
        writer.close()


async def test_a_column_added_while_stopped_does_not_count_the_anchor_row_again(tmp_path):
    db = tmp_path / "ledger.db"
    writer = Writer(db)
    writer.send_now("create wal")
    try:
        ids = insert(writer, 1, 3)
        run = Gated(ledger(db))
        await run.has(ids)
        state = await run.stop()
        writer.send_now("sql ALTER TABLE usage_logs ADD COLUMN team TEXT")
        more = insert(writer, 4, 2)
        run = Gated(ledger(db), state)
        await run.has(more)
        await asyncio.sleep(0.1)
        await run.stop()
        assert run.ids() == more
    finally:
        writer.close()


@pytest.mark.parametrize("bad", [
    None, {"kind": "jsonl", "version": 1}, {"kind": "sqlite", "version": 2},
    {"kind": "sqlite", "version": 1, "path": "x", "dev": 1, "ino": 2, "tables": "nope"},
    {"kind": "sqlite", "version": 1, "path": "OTHER", "dev": 1, "ino": 2, "tables": []},
    {"kind": "sqlite", "version": 1, "path": "SELF", "dev": 1, "ino": 2,
     "tables": [{"table": "usage_logs", "mark": "rowid", "hw": {"x": 1}, "anchor": None, "columns": []}]},
])
async def test_a_state_that_does_not_fit_is_ignored_with_a_note(tmp_path, bad):
    db = tmp_path / "ledger.db"
    writer = Writer(db)
    writer.send_now("create wal")
    ids = insert(writer, 1, 3)
    writer.close()
    if isinstance(bad, dict) and bad.get("path") == "SELF":
        bad = {**bad, "path": str(db)}
    source = ledger(db)
    assert source.restore(bad) is False
    assert source.status.note.startswith("resume state ignored")
    got = [int(e.request_id) async for b in source.batches(follow=False) for e in b.events]
    assert got == ids


async def test_start_end_and_tail_when_following(tmp_path):
    db = tmp_path / "ledger.db"
    writer = Writer(db)
    writer.send_now("create wal")
    try:
        present = insert(writer, 1, 10)
        for i, (start, old) in enumerate((("end", 0), ("tail:3", 3), (2, 2), ("beginning", None))):
            run = Gated(ledger(db, start=start))
            await asyncio.sleep(0.2)
            new = insert(writer, 100 + i, 1)
            await run.has(new)
            await run.stop()
            assert run.ids() == (present if old is None else present[len(present) - old:]) + new, start
            present += new
        # read to the end: end and tail do not apply (everything is read)
        source = ledger(db, start="end")
        got = [e async for b in source.batches(follow=False) for e in b.events]
        assert len(got) == 14 and source.progress.complete and source.progress.unit == "rows"
    finally:
        writer.close()


async def test_start_since_bisects_on_the_mark(tmp_path):
    db = tmp_path / "ledger.db"
    writer = Writer(db)
    writer.send_now("create wal")
    writer.close()
    days = 30
    with sqlite3.connect(db) as con:  # 30 days, one row a minute
        con.executemany(ROW.replace("{id}", "?").replace("'{at}'", "?"), [
            (i, datetime.fromtimestamp(1_767_225_600 + i * 60, timezone.utc).isoformat()) for i in range(days * 1440)])
    con.close()
    since = 1_767_225_600 + (days - 1) * 86400  # the last day
    source = ledger(db, start=f"since:{since}")
    got = [e async for b in source.batches(follow=False) for e in b.events]
    assert sorted(int(e.request_id) for e in got) == list(range((days - 1) * 1440, days * 1440))
    assert min(e.ts for e in got) >= since
    assert source.progress.total < 1440 + 2000  # the history read: the last day, not 30
