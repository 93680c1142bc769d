"""The key cap in every command, end to end on a real log: at most ``[limits] max_keys`` names per
dimension, the rest in ``(other)`` with a visible count of what was folded, totals exact."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time

import pytest

NOW = time.time()
USERS, MODELS, CAP = 500, 300, 20


@pytest.fixture
def crowd(tmp_path):
    """A log naming USERS distinct users and MODELS distinct models, and a config capping at CAP."""
    lines, total = [], 0
    for i in range(2000):
        prompt, completion = 10 + i % 97, i % 13
        total += prompt + completion
        lines.append(json.dumps({"ts": NOW - 3000 + i, "user": f"user-{i % USERS}", "provider": "openai",
                                 "model": f"model-{i % MODELS}", "prompt_tokens": prompt,
                                 "completion_tokens": completion}))
    (tmp_path / "gw.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "tokentop.toml").write_text(f"[limits]\nmax_keys = {CAP}\n")
    return tmp_path, total


def tokentop(cwd, *args: str) -> subprocess.CompletedProcess[str]:  # noqa: ANN001
    return subprocess.run([sys.executable, "-m", "tokentop", *args, "gw.jsonl"], cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def test_snapshot_json_folds_beyond_the_cap_and_keeps_totals_exact(crowd):
    cwd, total = crowd
    doc = json.loads(tokentop(cwd, "snapshot", "--json").stdout)
    assert doc["totals"]["total_tokens"] == total and doc["totals"]["requests"] == 2000
    assert len(doc["by_user"]) == CAP + 1 and "(other)" in doc["by_user"]
    assert len(doc["by_model"]) == CAP + 1 and "openai/(other)" in doc["by_model"]
    assert sum(e["total_tokens"] for e in doc["by_user"].values()) == total
    assert sum(e["total_tokens"] for e in doc["by_model"].values()) == total
    assert doc["key_cap"]["max_keys"] == CAP
    assert doc["key_cap"]["folded"]["user"] >= USERS - CAP and doc["key_cap"]["folded"]["model"] >= MODELS - CAP
    assert doc["by_user"]["(other)"]["plan"] is None and doc["by_user"]["(other)"]["limit"] is None


def test_snapshot_text_and_csv_and_check_say_what_was_folded(crowd):
    cwd, total = crowd
    text = tokentop(cwd, "snapshot").stdout
    assert "user names folded in (more than 20 distinct" in text and "model names folded in" in text
    rows = list(csv.reader(io.StringIO(tokentop(cwd, "snapshot", "--csv").stdout)))
    assert ["user", "(other)"] == rows[[r[:2] for r in rows].index(["user", "(other)"])][:2]
    assert sum(int(r[5]) for r in rows if r[0] == "user") == total
    check = tokentop(cwd, "check")
    assert "note: (other):" in check.stdout and "user names folded in" in check.stdout
    assert json.loads(tokentop(cwd, "check", "--json").stdout)["key_cap"]["folded"]["user"] >= USERS - CAP


async def test_the_monitor_shows_what_was_folded_in_the_panel_titles(crowd):
    from tokentop.config import load_config
    from tokentop.sources.registry import open_source
    from tokentop.ui.app import TokentopApp

    cwd, _ = crowd
    config = load_config(cwd / "tokentop.toml")
    source = open_source(str(cwd / "gw.jsonl"), config)
    source.start = type(source.start)("beginning")
    app = TokentopApp([source], config)
    async with app.run_test(size=(160, 48)) as pilot:
        for _ in range(300):
            if app.snapshot is not None and app.snapshot.events_total == 2000:
                break
            await pilot.pause(0.02)
        await pilot.pause(0.3)
        title = str(app.panels["panel-users"].border_title)
    assert "folded into (other)" in title
    assert len(app.snapshot.standings) <= CAP + 1
