"""Process hygiene, end to end: no live monitor without a terminal, no monitor on a mistyped command,
one plain status for a missing file in every command, one config check for every command."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.log_writer import record

HEADLESS_HINT = "`tokentop snapshot SOURCE`"


def tokentop(*args: str, stdin=subprocess.DEVNULL, cwd: Path | None = None, timeout: float = 30,
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tokentop", *args], stdin=stdin, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


# -- no terminal: refuse in one line (it spun at 99 % of a core for ever) ------------------------------------

@pytest.mark.parametrize("args", [("gw.jsonl",), ("run", "gw.jsonl"), ("demo",), ()], ids=lambda a: " ".join(a) or "bare")
def test_the_monitor_refuses_to_start_without_a_terminal(tmp_path, args):
    (tmp_path / "gw.jsonl").write_bytes(record(0))
    started = time.monotonic()
    result = tokentop(*args, cwd=tmp_path, timeout=20)
    assert result.returncode == 2
    assert time.monotonic() - started < 15
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and HEADLESS_HINT in lines[0] and "`tokentop tail SOURCE`" in lines[0]
    assert result.stdout == ""  # no escape codes written anywhere
    assert list(tmp_path.iterdir()) == [tmp_path / "gw.jsonl"]  # (the demo started nothing)


def test_a_terminal_on_stdin_is_not_enough_when_stdout_is_a_pipe(tmp_path):
    (tmp_path / "gw.jsonl").write_bytes(record(0))
    master, slave = pty.openpty()
    try:
        result = tokentop("gw.jsonl", stdin=slave, cwd=tmp_path, timeout=20)
    finally:
        os.close(slave)
        os.close(master)
    assert result.returncode == 2 and HEADLESS_HINT in result.stderr


# -- a word that names nothing is a mistake, with a suggestion ----------------------------------------------

@pytest.mark.parametrize("word, suggestion", [("snapshto", "snapshot"), ("chekc", "check"), ("tial", "tail"),
                                              ("dmeo", "demo")])
def test_a_mistyped_command_is_an_error_with_a_suggestion(tmp_path, word, suggestion):
    (tmp_path / "gw.jsonl").write_bytes(record(0))
    result = tokentop(word, "gw.jsonl", cwd=tmp_path)
    assert result.returncode == 2
    assert f"'{word}' is not a command, a configured source or an existing file" in result.stderr
    assert f"did you mean {suggestion}?" in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr


def test_a_mistyped_source_name_suggests_the_configured_one(tmp_path):
    (tmp_path / "tokentop.toml").write_text('[sources.gateway]\nkind = "jsonl"\npath = "gw.jsonl"\n')
    result = tokentop("snapshot", "gatewya", cwd=tmp_path)
    assert result.returncode == 2 and "did you mean gateway?" in result.stderr
    assert tokentop("snapshot", "gateway", cwd=tmp_path).returncode == 2  # a real source (waiting: exit 2)
    result = tokentop("snapshot", "zzz", cwd=tmp_path)
    assert result.returncode == 2 and "did you mean" not in result.stderr and "./zzz" in result.stderr


def test_an_existing_file_with_a_bare_name_is_read(tmp_path):
    (tmp_path / "usage").write_bytes(record(0) + record(1))
    result = tokentop("snapshot", "--json", "usage", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["totals"]["requests"] == 2


# -- a missing file: one plain status everywhere ------------------------------------------------------------

def test_snapshot_and_check_say_waiting_for_the_file(tmp_path):
    missing = tmp_path / "gw.jsonl"
    text = tokentop("snapshot", str(missing))
    assert text.returncode == 2  # (the note column is cut to its width)
    assert re.search(r"gw\.jsonl +jsonl +waiting +0 +0 +- +waiting for /", text.stdout), text.stdout
    doc = json.loads(tokentop("snapshot", "--json", str(missing)).stdout)
    assert doc["sources"][0]["status"] == "waiting" and doc["sources"][0]["error"] is None
    assert doc["sources"][0]["detail"] == f"waiting for {missing} to appear"
    check = tokentop("check", "--json", str(missing))
    assert check.returncode == 2
    [alert] = json.loads(check.stdout)["alerts"]
    assert alert["severity"] == "warning" and alert["message"].endswith(f"waiting for {missing} to appear")


def test_tail_says_it_is_waiting_then_follows_the_file_once_it_appears(tmp_path):
    missing = tmp_path / "later.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "tokentop", "tail", "--json", "--exit-idle", "3", str(missing)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # (it used to print nothing and wait for ever)
        assert first.strip() == f"tokentop: later.jsonl: waiting for {missing} to appear"
        missing.write_bytes(record(0) + record(1))
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert [json.loads(line)["request_id"] for line in out.splitlines()] == ["r0", "r1"]
    assert "its file appeared; following it" in err


async def test_the_header_says_waiting_for_the_file(tmp_path):
    from tokentop.config import Config
    from tokentop.sources.registry import open_source
    from tokentop.ui.app import TokentopApp
    from tokentop.ui.widgets.header import StatusHeader

    missing = tmp_path / "gw.jsonl"
    app = TokentopApp([open_source(str(missing), Config())], Config())
    async with app.run_test(size=(160, 40)) as pilot:
        header = app.query_one(StatusHeader)
        for _ in range(250):
            if header._shown is not None and "to appear" in header._shown.plain:
                break
            await pilot.pause(0.02)
        assert f"gw.jsonl ◌ waiting for {missing}"[:40] in header._shown.plain


# -- one config check for every command ---------------------------------------------------------------------

@pytest.mark.parametrize("toml, key", [
    ("[alerts.spike]\nfactor = -1\n", "alerts.spike.factor"),
    ("[alerts]\nmute = [\"nosuchrule\"]\n", "alerts.mute"),
    ("[prices.gpt-4o]\ninput = -1\noutput = 1\n", "prices.gpt-4o.input"),
    ("[limits]\nmax_keys = 0\n", "limits.max_keys"),
    ("[limits]\nmax_body_bytes = \"1M\"\n", "limits.max_body_bytes"),
])
@pytest.mark.parametrize("command", [("snapshot",), ("check",), ("tail", "--exit-idle", "0.2"), ()],
                         ids=lambda c: c[0] if c else "monitor")
def test_every_command_rejects_the_same_bad_config(tmp_path, toml, key, command):
    (tmp_path / "tokentop.toml").write_text(toml)
    (tmp_path / "gw.jsonl").write_bytes(record(0))
    result = tokentop(*command, "gw.jsonl", cwd=tmp_path)
    assert result.returncode == 2
    assert f"tokentop: config error: {tmp_path / 'tokentop.toml'}: {key}:" in result.stderr
    assert "Traceback" not in result.stderr
