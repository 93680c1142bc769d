"""A ledger writer in its own process, driven line by line from a test (stdin commands, stdout replies).

Commands: ``create MODE`` (a ``usage_logs`` table, journal MODE wal|delete), ``insert N PER_COMMIT``
(N rows, a commit every PER_COMMIT rows; replies with the last id), ``lock`` / ``unlock`` (hold and
release an exclusive write lock), ``checkpoint`` (replies ``busy log checkpointed``), ``sql STATEMENT``.
Every row's ``id`` is its sequence number, so a reader can prove each row was counted exactly once;
``created_at`` is the real insert time, so rows of different ledgers differ as they do in life.
"""

from __future__ import annotations

import sqlite3
import sys
from datetime import datetime, timezone

SCHEMA = """CREATE TABLE IF NOT EXISTS usage_logs (
    id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, user_id TEXT, api_key_id TEXT, provider TEXT,
    model TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER,
    token_source TEXT, cost REAL, latency_ms INTEGER, status TEXT, metadata TEXT)"""


def main(path: str) -> None:
    db = sqlite3.connect(path, timeout=10, isolation_level=None)
    in_tx = False
    for line in sys.stdin:
        cmd, _, rest = line.strip().partition(" ")
        reply = "ok"
        if cmd == "create":
            db.execute(f"PRAGMA journal_mode={rest or 'wal'}")
            db.execute(SCHEMA)
        elif cmd == "insert":
            n, per_commit = (int(x) for x in rest.split())
            if not in_tx:
                db.execute("BEGIN")
            last = 0
            for start in range(0, n, per_commit):
                last = insert_rows(db, min(per_commit, n - start))
                if not in_tx:
                    db.execute("COMMIT")
                    db.execute("BEGIN")
            if not in_tx:
                db.execute("COMMIT")
            reply = f"ok {last}"
        elif cmd == "lock":
            db.execute("BEGIN EXCLUSIVE")
            in_tx = True
        elif cmd == "unlock":
            db.execute("COMMIT")
            in_tx = False
        elif cmd == "checkpoint":
            reply = " ".join(str(x) for x in db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone())
        elif cmd == "sql":
            db.execute(rest)
        elif cmd == "quit":
            break
        print(reply, flush=True)
    db.close()


def insert_rows(db: sqlite3.Connection, n: int) -> int:
    last = 0
    for i in range(n):
        cur = db.execute(
            "INSERT INTO usage_logs (created_at, user_id, provider, model, prompt_tokens, completion_tokens,"
            " total_tokens, token_source, status, metadata) VALUES (?, ?, 'openai', 'gpt-4o', 100, 20, 120,"
            " 'actual', 'success', '{\"platform\": \"web\"}')",
            (datetime.now(timezone.utc).isoformat(), f"user{i % 3}"),
        )
        last = cur.lastrowid or last
    return last


if __name__ == "__main__":
    main(sys.argv[1])
