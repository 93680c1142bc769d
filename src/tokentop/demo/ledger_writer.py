"""The demo's SQLite ledger: a WAL-mode ``usage_logs`` table written by its own thread and connection,
one commit per request, as an application's request handler would."""

from __future__ import annotations

import queue
import sqlite3
import threading
from pathlib import Path
from typing import Any

from tokentop.demo.records import LEDGER_INSERT, LEDGER_SCHEMA

_STOP = object()


def create_ledger(path: Path) -> None:
    """Create the database in WAL mode with its table, so a reader can open it before the first row."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(LEDGER_SCHEMA)
        conn.commit()
    finally:
        conn.close()


class LedgerWriter:
    """Inserts rows handed to :meth:`put` from a background thread; :meth:`close` drains and joins."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        self.error: str | None = None
        self._queue: queue.Queue[Any] = queue.Queue()
        create_ledger(path)
        self._thread = threading.Thread(target=self._run, name="demo-ledger", daemon=True)
        self._thread.start()

    def put(self, row: tuple[Any, ...]) -> None:
        self._queue.put([row])

    def put_many(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows inserted in one transaction (the history written when the gateway starts)."""
        if rows:
            self._queue.put(rows)

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=5.0, check_same_thread=True)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable enough for a demo, fast
            while (rows := self._queue.get()) is not _STOP:
                try:
                    with conn:  # one transaction, one commit per request
                        conn.executemany(LEDGER_INSERT, rows)
                    self.written += len(rows)
                except sqlite3.Error as exc:  # a reader cannot lock us out in WAL, but never die silently
                    self.error = str(exc)
        finally:
            conn.close()

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout=10)
