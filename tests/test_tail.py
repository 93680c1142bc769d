"""``tokentop tail`` end to end: a real writer process appends while the command follows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.claude_tree import claude_tree
from tests.log_writer import record

WRITER = Path(__file__).resolve().parent / "log_writer.py"


def tail(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tokentop", "tail", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_output(proc: subprocess.Popen[bytes], timeout: float = 10) -> bytes:
    """The first line the command prints (it follows from the end, so we know it is ready)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = proc.stdout.readline()
    assert line and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
    return line


def wait_until_open(proc: subprocess.Popen[bytes], path: Path, timeout: float = 15) -> None:
    """Until the command has ``path`` open (its start position is set as it opens it): a fixed sleep
    was too short on a loaded machine. Without /proc, a generous sleep."""
    fds = Path(f"/proc/{proc.pid}/fd")
    if not fds.is_dir():
        time.sleep(2)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if any(os.path.realpath(fd) == str(path) for fd in fds.iterdir()):
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise AssertionError(f"tail never opened {path}")


def test_json_lines_while_a_writer_appends(tmp_path):
    log = tmp_path / "gw.jsonl"
    log.write_bytes(record(0))  # before the start: not printed (follows from the end)
    proc = tail("--json", "--exit-idle", "1", str(log))
    wait_until_open(proc, log.resolve())
    writer = subprocess.run([sys.executable, str(WRITER)], input=f"append {log} 1 50\nappend {log} 51 50\n".encode(),
                            capture_output=True, timeout=20)
    assert writer.returncode == 0
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    docs = [json.loads(line) for line in out.splitlines()]
    assert [d["request_id"] for d in docs] == [f"r{i}" for i in range(1, 101)]
    assert docs[0]["ts"].endswith("Z") and docs[0]["provider"] == "openai" and docs[0]["total_tokens"] == 2
    assert b"Traceback" not in err


def test_from_start_and_skips_reported_on_stderr(tmp_path):
    log = tmp_path / "gw.jsonl"
    log.write_bytes(record(0) + b"not json\n" + b"[1]\n" + record(1))
    proc = tail("--json", "--from-start", "--exit-idle", "0.5", str(log))
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert [json.loads(line)["request_id"] for line in out.splitlines()] == ["r0", "r1"]
    assert b"skipped 2 record(s) (invalid_json 1, not_an_object 1)" in err


def test_tail_n_backfills_the_last_lines(tmp_path):
    log = tmp_path / "gw.jsonl"
    log.write_bytes(b"".join(record(i) for i in range(10)))
    out, _ = tail("--json", "--tail", "3", "--exit-idle", "0.5", str(log)).communicate(timeout=20)
    assert [json.loads(line)["request_id"] for line in out.splitlines()] == ["r7", "r8", "r9"]


def test_sigterm_and_sigint_exit_cleanly(tmp_path):
    log = tmp_path / "gw.jsonl"
    log.write_bytes(b"")
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = tail(str(log))
        wait_until_open(proc, log.resolve())
        with log.open("ab") as f:
            f.write(record(1))
        wait_for_output(proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert b"Traceback" not in err


def test_readable_lines_escape_hostile_strings(tmp_path):
    log = tmp_path / "gw.jsonl"
    hostile = {"ts": 1_790_000_000, "user": "eve\x1b[2J", "model": "[bold]gpt-4o\x1b]0;pwn\x07",
               "provider": "openai", "prompt_tokens": 10, "completion_tokens": 5, "token_source": "estimated",
               "cost": 0.25}
    log.write_text(json.dumps(hostile) + "\n")
    out, err = tail("--from-start", "--exit-idle", "0.5", str(log)).communicate(timeout=20)
    text = out.decode()
    assert "\x1b" not in text and "\x07" not in text
    assert "eve\\x1b[2J" in text and "openai/[bold]gpt-4o\\x1b]0;pwn\\x07" in text
    assert "10+5=15 ~est" in text and "$0.2500" in text and text.startswith("2026-")


def test_sources_from_config_and_bad_config(tmp_path):
    log = tmp_path / "gw.jsonl"
    log.write_bytes(record(3))
    config = tmp_path / "tokentop.toml"
    config.write_text(f'[sources.gw]\nkind = "jsonl"\npath = "{log}"\nstart = "beginning"\n')
    out, _ = tail("--json", "--exit-idle", "0.5", "--config", str(config)).communicate(timeout=20)
    assert json.loads(out)["source"] == "gw"
    config.write_text(f'[sources.gw]\nkind = "jsonl"\npath = "{log}"\nstart = "middle"\n')
    proc = tail("--config", str(config))
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2 and b"sources.gw.start" in err and str(config).encode() in err


def ledger_with_rows(path: Path, stamps: list[str]) -> None:
    import sqlite3

    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE usage_logs (id INTEGER PRIMARY KEY, created_at TEXT, user_id TEXT, model TEXT,"
                    " prompt_tokens INTEGER, completion_tokens INTEGER)")
        con.executemany("INSERT INTO usage_logs (created_at, user_id, model, prompt_tokens, completion_tokens)"
                        " VALUES (?, 'u', 'gpt-4o', 10, 1)", [(s,) for s in stamps])
    con.close()


def test_the_start_flags_work_for_every_kind_and_the_default_is_the_same(tmp_path):
    """A ledger and a Claude Code folder, like a log: the default prints only new records; the flags
    read back what is already there."""
    db = tmp_path / "usage.db"
    ledger_with_rows(db, [f"2026-01-0{d}T12:00:00Z" for d in range(1, 6)])
    projects = tmp_path / "claude" / "projects" / "p"
    projects.mkdir(parents=True)
    (projects / "s.jsonl").write_bytes(b"".join(json.dumps({
        "type": "assistant", "sessionId": "s", "uuid": f"u{d}", "requestId": f"req{d}",
        "timestamp": f"2026-01-0{d}T12:00:00Z", "message": {"id": f"msg{d}", "model": "claude-sonnet-4-5", "usage": {
            "input_tokens": 1, "output_tokens": 1, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0}}}).encode() + b"\n" for d in range(1, 6)))
    sources = [str(db), f"claude:{tmp_path / 'claude' / 'projects'}"]

    def ids(*flags: str) -> list[str]:
        out, err = tail("--json", *flags, "--exit-idle", "1", *sources).communicate(timeout=30)
        assert b"Traceback" not in err, err
        return sorted(str(json.loads(line)["request_id"]) for line in out.splitlines())

    assert ids() == []
    assert ids("--from-start") == ["1", "2", "3", "4", "5", "req1", "req2", "req3", "req4", "req5"]
    assert ids("--tail", "2") == ["4", "5", "req4", "req5"]
    assert ids("--since", "2026-01-04T00:00:00Z") == ["4", "5", "req4", "req5"]
    # a configured start is used when no flag is given; a flag wins over it
    config = tmp_path / "tokentop.toml"
    config.write_text(f'[sources.ledger]\nkind = "sqlite"\npath = "{db}"\nstart = "tail:1"\n')
    out, _ = tail("--config", str(config), "--json", "--exit-idle", "1").communicate(timeout=30)
    assert [json.loads(line)["request_id"] for line in out.splitlines()] == ["5"]
    out, _ = tail("--config", str(config), "--json", "--from-start", "--exit-idle", "1").communicate(timeout=30)
    assert len(out.splitlines()) == 5


def test_events_superseded_after_they_were_printed_are_printed_as_retracted(tmp_path):
    """Claude Code writes a response as lines of growing output, and resumed sessions copy earlier
    turns into new files: what tail prints, less what it retracts, is each response once."""
    truth = claude_tree(tmp_path / "projects", summaries=False)
    done = subprocess.run([sys.executable, "-m", "tokentop", "tail", "--json", "--from-start", "--exit-idle", "1",
                           f"claude:{tmp_path / 'projects'}"], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    sign = [-1 if e.get("retracted") else 1 for e in printed]
    assert sum(sign) == truth["requests"]
    assert sum(s * e["completion_tokens"] for s, e in zip(sign, printed)) == truth["output"]
    assert any(e.get("retracted") for e in printed)  # (this tree has responses superseded across batches)
    text = subprocess.run([sys.executable, "-m", "tokentop", "tail", "--from-start", "--exit-idle", "1",
                           f"claude:{tmp_path / 'projects'}"], capture_output=True, timeout=60, text=True)
    lines = text.stdout.splitlines()
    assert sum(-1 if line.startswith("RETRACTED ") else 1 for line in lines) == truth["requests"]
