"""A SQLite ledger's history summed by SQLite equals row-by-row reading of the same table, cell for cell
(hours, minutes, periods, all time, own-period tallies, standings): NULL providers, unknown token
sources, mismatched totals, NULL counts, failed requests, a billing period starting at 18:30 UTC, users
with their own plan periods, a rolling plan -- and every time spelling a ledger uses (ISO text with
``T`` or a space, fractions, ``Z``, epoch seconds), with the odd values SQLite lets any column hold
(an offset or milliseconds as a time, an impossible date, text or negative counts, a blob label,
broken JSON) read one by one as before."""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import datetime, timezone

from tests.conftest import FakeClock
from tests.sources.pg_tables_sql import faulty_counts
from tests.sources.test_pg_summed import NOW, assert_same, plans, read_into
from tokentop.config import Config
from tokentop.core.aggregate import Aggregator
from tokentop.core.periods import Period
from tokentop.core.plans import Plan, PlanBook
from tokentop.sources import ledger_sums
from tokentop.sources.ledger import make_source

SCHEMA = """CREATE TABLE usage_logs (id INTEGER PRIMARY KEY, created_at, user_id, api_key_id TEXT, provider TEXT,
    model TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER, token_source TEXT,
    cost REAL, latency_ms INTEGER, status TEXT, metadata TEXT)"""


def spelt(ts: float, rng: random.Random) -> object:
    """A time as ledgers write it."""
    moment = datetime.fromtimestamp(ts, timezone.utc)
    return rng.choice([
        moment.strftime("%Y-%m-%dT%H:%M:%SZ"), moment.strftime("%Y-%m-%d %H:%M:%S"),  # CURRENT_TIMESTAMP
        moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"), moment.isoformat(timespec="microseconds")[:26],
        int(ts), round(ts, 3)])


def odd_time(ts: float, rng: random.Random) -> object:
    moment = datetime.fromtimestamp(ts, timezone.utc)
    return rng.choice([None, "yesterday", moment.strftime("%Y-%m-%dT%H:%M:%S+05:30"), int(ts * 1000),
                       "2026-02-30T10:00:00Z", moment.strftime("%Y-%m-%dT%H:%M:%S+00:00"), -5])


def rows(n: int, now: float, seed: int = 7) -> list[tuple]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        back = rng.uniform(0, 3600) if rng.random() < 0.2 else rng.uniform(0, 40 * 86400)
        ts = round(now - back, 3)
        prompt, completion, total = faulty_counts(rng)
        metadata = rng.choice([None, json.dumps({"platform": rng.choice(["web", "ios", "", 5])}),
                               json.dumps({"source": "api"})])
        user: object = rng.choice([f"user{rng.randint(1, 25)}", "company3", "company4", "customer2", None, 7])
        time: object = spelt(ts, rng)
        odd = rng.random()
        if odd < 0.02:
            time = odd_time(ts, rng)
        elif odd < 0.03:
            prompt = rng.choice([-5, "12", 3.5])
        elif odd < 0.035:
            user = b"\x00blob"
        elif odd < 0.04:
            metadata = rng.choice(["{not json", json.dumps({"platform": {"a": 1}}), json.dumps({"platform": True})])
        out.append((time, user, f"key{rng.randint(1, 5)}",
                    rng.choice([None, "openai", "OpenAI", "anthropic", "google", "azure", ""]),
                    rng.choice(["gpt-4o", "claude-sonnet-4", "gemini-2.5-flash", "mystery-model", None]),
                    prompt, completion, total, rng.choice(["actual", "estimated", "unknown", None]),
                    rng.choice([None, round(rng.uniform(0, 0.05), 6), 0]), rng.randint(0, 3000),
                    rng.choice(["success", "success", "error", "429", None, "  "]), metadata))
    return out


def ledger(path, n: int) -> None:
    with sqlite3.connect(path) as con:
        con.execute(SCHEMA)
        con.executemany("INSERT INTO usage_logs VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows(n, NOW))


async def aggregate(path, summed: bool, book: PlanBook) -> tuple[Aggregator, object, int]:
    clock = FakeClock(NOW)
    source = make_source("ledger", {"path": str(path), "sum_history": summed}, Config(plans=book), clock=clock)
    agg = Aggregator(book, clock=clock)
    summaries = await read_into(source, agg)
    return agg, source, summaries


def rolling_plans() -> PlanBook:
    """Own day periods, a rolling plan, and the 18:30 UTC billing month (Asia/Kolkata)."""
    book = plans()
    return PlanBook(plans={**book.plans, "window": Plan("window", 100_000, Period.parse("rolling 8h"))},
                    assignments={**book.assignments, "user3": "window"}, billing_period=book.billing_period)


async def test_sqlite_sums_equal_rows(tmp_path):
    path = tmp_path / "ledger.db"
    ledger(path, 8000)
    book = rolling_plans()
    summed, source, n = await aggregate(path, True, book)
    rows_, row_source, none = await aggregate(path, False, book)
    assert n > 0 and none == 0 and "history summed by SQLite (6," in source.status.detail
    assert_same(summed, rows_)
    assert source.status.skipped == row_source.status.skipped > 0
    assert dict(source.status.skip_reasons) == dict(row_source.status.skip_reasons)
    assert source.status.events == row_source.status.events
    newest = [e for e in summed.recent if int(e.request_id) > 8000 - 1000]  # (odd rows' events come first)
    assert newest == list(rows_.recent)[-len(newest):] and len(newest) > 900
    assert summed.totals("all", NOW).requests + source.status.skipped == 8000  # each row: a request or a skip


async def test_a_row_older_than_the_first_sums_again_with_its_boundary(tmp_path, monkeypatch):
    """Spans are planned from the first and the cut row's times; a row older than the first (out of
    order, in an earlier period) makes the sums run again with that period's boundary."""
    path = tmp_path / "ledger.db"
    ledger(path, 3000)
    with sqlite3.connect(path) as con:
        con.execute("UPDATE usage_logs SET created_at = '2026-06-01T10:00:00Z' WHERE id = 2000")
        con.execute("UPDATE usage_logs SET created_at = '2026-09-10T10:00:00Z' WHERE id = 1")
    runs = []
    grouped = ledger_sums.grouped_query

    def counted(*args, **kwargs):
        runs.append(1)
        return grouped(*args, **kwargs)

    monkeypatch.setattr(ledger_sums, "grouped_query", counted)
    book = rolling_plans()
    summed, _, n = await aggregate(path, True, book)
    rows_, _, _ = await aggregate(path, False, book)
    assert n > 0 and len(runs) == 2
    assert_same(summed, rows_)


def test_snapshot_since_on_a_summable_ledger_counts_only_the_window(tmp_path):
    """``snapshot --since`` filters rows as they are read: a ledger's history is then not summed (the
    sums would hold requests outside the window)."""
    import os
    import subprocess
    import sys
    import time as clock

    path = tmp_path / "ledger.db"
    now = clock.time()
    with sqlite3.connect(path) as con:
        con.execute(SCHEMA)
        con.executemany("INSERT INTO usage_logs (created_at, user_id, provider, model, prompt_tokens, completion_tokens,"
                        " total_tokens) VALUES (?, 'u', 'openai', 'gpt-4o', 10, 5, 15)",
                        [(datetime.fromtimestamp(now - i * 60, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),)
                         for i in range(3000)])
    since = datetime.fromtimestamp(now - 600 * 60 - 30, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    done = subprocess.run([sys.executable, "-m", "tokentop", "snapshot", "--json", "--since", since, str(path)],
                          capture_output=True, text=True, timeout=120, env={**os.environ})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["requests"] == 601  # rows 0..600 minutes old
    whole = subprocess.run([sys.executable, "-m", "tokentop", "snapshot", "--json", str(path)],
                           capture_output=True, text=True, timeout=120, env={**os.environ})
    doc = json.loads(whole.stdout)
    assert doc["totals"]["requests"] == 3000 and "history summed by SQLite (2,001" in doc["sources"][0]["detail"]
