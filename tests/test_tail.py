"""``tokentop tail`` end to end: a real writer process appends while the command follows."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.log_writer import record

WRITER = Path(__file__).resolve().parent / "log_writer.py"


def tail(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tokentop", "tail", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


PROBES = 10_000
"""Request numbers from here on are probes (see :func:`until_following`)."""


def until_following(proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> bytes:
    """Append probe records until the command prints one, and return that line. It follows from the
    end, so a record written before it got there is never printed: a fixed sleep before writing was
    a race on a busy machine (the test then waited for ever)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    probe = PROBES
    while time.monotonic() < deadline:
        with log.open("ab") as f:
            f.write(record(probe))
        probe += 1
        if select.select([proc.stdout], [], [], 0.3)[0]:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            return line
    proc.kill()
    raise AssertionError(f"no output within {timeout} s: {proc.communicate()[1]!r}")


def test_json_lines_while_a_writer_appends(tmp_path):
    log = tmp_path / "gw.jsonl"
    log.write_bytes(record(0))  # before the start: not printed (follows from the end)
    proc = tail("--json", "--exit-idle", "3", str(log))
    first = until_following(proc, log)
    writer = subprocess.run([sys.executable, str(WRITER)], input=f"append {log} 1 50\nappend {log} 51 50\n".encode(),
                            capture_output=True, timeout=20)
    assert writer.returncode == 0
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    docs = [json.loads(line) for line in [first, *out.splitlines()]]
    docs = [d for d in docs if int(d["request_id"][1:]) < PROBES]
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
        until_following(proc, log)
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
