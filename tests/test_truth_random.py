"""Start from the truth, whatever happens between runs: a seeded random mix of appends (some while tokentop
reads), rotations, copytruncate, truncations, a replaced ledger, and ``tokentop snapshot`` restarts --
resuming from the checkpoint, without one, after it was damaged or outdated -- ends with a snapshot
equal, field for field, to a cold read of an archive holding every record written once.

The archive is what one reader that never stopped would have seen: every JSONL line and ledger row
written, kept even when a truncation or a deleted rotation removes it from the live files (those
happen only right after a run, as when tokentop follows the log). A run that reads the history
again (no usable checkpoint) starts a new archive from the live files as they are then.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCHEMA = """CREATE TABLE IF NOT EXISTS usage_logs (
    id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, user_id TEXT, provider TEXT, model TEXT,
    prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER, token_source TEXT, cost REAL,
    status TEXT)"""
VOLATILE = ("lag_seconds", "detail", "note", "error")
"""Source status fields that describe the moment or the files, not what was counted."""


class World:
    """The live files, the archive, the config and the state dir of one random run."""

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root, self.rng = root, rng
        self.logs, self.archive, self.state = root / "logs", root / "archive", root / "state"
        for folder in (self.logs, self.archive):
            folder.mkdir()
        self.db = root / "ledger.db"
        self._ledger(self.db).close()
        self._ledger(self.archive / "ledger.db").close()
        self.seq = self.row = 0
        self.base = time.time() - 3 * 86400
        self.part = 0
        self.prices = 2.5
        self.just_ran = False

    def _ledger(self, path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=wal")
        db.execute(SCHEMA)
        return db

    def config(self, live: bool) -> Path:
        logs = self.logs / "app.jsonl*" if live else self.archive / "app-*.jsonl"
        ledger = self.db if live else self.archive / "ledger.db"
        path = self.root / ("live.toml" if live else "archive.toml")
        path.write_text(f'[sources.app]\nkind = "jsonl"\npath = "{logs}"\n\n'
                        f'[sources.ledger]\nkind = "sqlite"\npath = "{ledger}"\n\n'
                        f'[prices."gpt-4o"]\ninput = {self.prices}\noutput = 10.0\n')
        return path

    # -- what is written ---------------------------------------------------------------------------

    def lines(self, count: int) -> bytes:
        out = []
        for _ in range(count):
            self.seq += 1
            out.append(json.dumps({
                "ts": self.base + self.seq, "request_id": f"j{self.seq}", "user": f"u{self.rng.randrange(5)}",
                "provider": "openai", "model": self.rng.choice(["gpt-4o", "gpt-4o-mini", "o3-mini"]),
                "prompt_tokens": self.rng.randrange(1, 900), "completion_tokens": self.rng.randrange(300),
                "platform": self.rng.choice(["web", "ios", None])}).encode() + b"\n")
        return b"".join(out)

    def append(self, count: int) -> None:
        data = self.lines(count)
        with (self.logs / "app.jsonl").open("ab") as live, (self.archive / f"app-{self.part}.jsonl").open("ab") as kept:
            live.write(data)
            kept.write(data)

    def rows(self, count: int, db_path: Path | None = None) -> None:
        rows = []
        for _ in range(count):
            self.row += 1
            rows.append((self.row, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.base + self.row * 3)) + "Z",
                         f"u{self.rng.randrange(5)}", "openai", "gpt-4o", self.rng.randrange(1, 500),
                         self.rng.randrange(90), None, "actual", None, "success"))
        for path in (db_path or self.db, self.archive / "ledger.db"):
            db = sqlite3.connect(path, isolation_level=None)
            db.executemany("INSERT INTO usage_logs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            db.close()

    def writer(self, count: int) -> subprocess.Popen[bytes]:
        """A writer process appending ``count`` lines a few at a time while tokentop reads."""
        data = self.lines(count)
        with (self.archive / f"app-{self.part}.jsonl").open("ab") as kept:
            kept.write(data)
        script = ("import os, sys, time\nfd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT)\n"
                  "data = sys.stdin.buffer.read().splitlines(keepends=True)\n"
                  "for i in range(0, len(data), 7):\n    os.write(fd, b''.join(data[i:i + 7]))\n    time.sleep(0.002)\n")
        proc = subprocess.Popen([sys.executable, "-c", script, str(self.logs / "app.jsonl")], stdin=subprocess.PIPE)
        assert proc.stdin is not None
        proc.stdin.write(data)
        proc.stdin.close()
        return proc

    # -- what happens to the files ------------------------------------------------------------------

    def rotate(self, copytruncate: bool) -> None:
        live = self.logs / "app.jsonl"
        if not live.exists():
            return
        for n in (2, 1):
            if (self.logs / f"app.jsonl.{n}").exists():
                os.replace(self.logs / f"app.jsonl.{n}", self.logs / f"app.jsonl.{n + 1}")
        if copytruncate:
            shutil.copyfile(live, self.logs / "app.jsonl.1")
            os.truncate(live, 0)
        else:
            os.replace(live, self.logs / "app.jsonl.1")
        if self.just_ran and (self.logs / "app.jsonl.3").exists():
            (self.logs / "app.jsonl.3").unlink()  # (read already: the archive keeps its lines)

    def truncate_to_prefix(self) -> None:
        live = self.logs / "app.jsonl"
        if not self.just_ran or not live.exists():
            return
        data = live.read_bytes()
        ends = [i + 1 for i, byte in enumerate(data) if byte == 10]
        if ends:
            os.truncate(live, self.rng.choice(ends))  # the lines cut were read: the archive keeps them

    def replace_ledger(self) -> None:
        """The writer's way of rotating a WAL ledger: a copy with new rows, renamed over the old one."""
        fresh = self.root / "ledger.db.new"
        source, copy = sqlite3.connect(self.db), sqlite3.connect(fresh)
        source.backup(copy)
        source.close()
        copy.execute("PRAGMA journal_mode=wal")
        copy.close()
        self.rows(self.rng.randrange(1, 40), fresh)
        os.replace(fresh, self.db)
        for suffix in ("-wal", "-shm"):
            if (self.root / f"ledger.db{suffix}").exists():
                os.unlink(self.root / f"ledger.db{suffix}")

    def new_archive(self) -> None:
        """History is read again from the live files as they are now: the archive starts from them."""
        shutil.rmtree(self.archive)
        self.archive.mkdir()
        self.part += 1
        for n, path in enumerate(sorted(self.logs.glob("app.jsonl*"))):
            shutil.copyfile(path, self.archive / f"app-r{self.part}-{n}.jsonl")
        source, copy = sqlite3.connect(self.db), sqlite3.connect(self.archive / "ledger.db")
        source.backup(copy)
        source.close()
        copy.close()

    # -- tokentop ------------------------------------------------------------------------------------

    def snapshot(self, *options: str, live: bool = True) -> tuple[dict, str]:
        args = [sys.executable, "-m", "tokentop", "snapshot", "--json", "--config", str(self.config(live)),
                "--state-dir", str(self.state), "--workers", "1", *options]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout), done.stderr

    def checkpoint(self) -> Path:
        return next((self.state / "checkpoints").glob("*.full.ckpt"))


def comparable(doc: dict) -> dict:
    doc = dict(doc)
    doc.pop("generated_at")
    doc["sources"] = [{k: v for k, v in s.items() if k not in VOLATILE} for s in doc["sources"]]
    return doc


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_record_is_counted_once_whatever_happens_between_runs(tmp_path, seed):
    rng = random.Random(seed)
    world = World(tmp_path, rng)
    world.append(50)
    world.rows(20)
    ops = ["append", "append", "rows", "rotate", "copytruncate", "truncate", "replace_ledger", "run", "run",
           "run_while_written", "cold_run", "damaged", "outdated", "no_checkpoint"]
    resets = 0
    plan = rng.sample(ops, len(ops)) + [rng.choice(ops) for _ in range(26)]  # every kind at least once
    for op in plan:
        ran = op.endswith("run") or op in ("damaged", "outdated", "no_checkpoint")
        if op == "append":
            world.append(rng.randrange(1, 300))
        elif op == "rows":
            world.rows(rng.randrange(1, 60))
        elif op in ("rotate", "copytruncate"):
            world.rotate(copytruncate=op == "copytruncate")
        elif op == "truncate":
            world.truncate_to_prefix()
        elif op == "replace_ledger":
            world.replace_ledger()
        elif op == "run":
            world.snapshot()
        elif op == "run_while_written":
            writer = world.writer(rng.randrange(50, 400))
            world.snapshot()
            writer.wait(timeout=60)
        elif op == "no_checkpoint":  # reads everything; neither uses nor touches the checkpoint
            before = [(p.name, p.stat().st_mtime_ns) for p in (world.state / "checkpoints").glob("*")] \
                if (world.state / "checkpoints").exists() else []
            world.snapshot("--no-checkpoint")
            after = [(p.name, p.stat().st_mtime_ns) for p in (world.state / "checkpoints").glob("*")] \
                if (world.state / "checkpoints").exists() else []
            assert before == after
            ran = False
        else:  # a run that must read the history again
            had = (world.state / "checkpoints").exists() and any((world.state / "checkpoints").glob("*.ckpt"))
            if op == "damaged" and had:
                path = world.checkpoint()
                data = bytearray(path.read_bytes())
                data[rng.randrange(len(data))] ^= 0xFF
                path.write_bytes(bytes(data))
            elif op == "outdated":
                world.prices += 0.5  # a price override: what was counted is not what would be counted now
            elif op == "cold_run" and had:
                shutil.rmtree(world.state / "checkpoints")
            world.new_archive()
            resets += 1
            _, notice = world.snapshot()
            if op in ("damaged", "outdated") and had:
                assert ("damaged" in notice or "outdated" in notice) and "reading the history again" in notice
        world.just_ran = ran
    final, _ = world.snapshot()
    cold, _ = world.snapshot("--no-checkpoint", live=False)
    assert comparable(final) == comparable(cold)
    assert final["events_total"] == cold["events_total"] > 0
    assert resets >= 3
