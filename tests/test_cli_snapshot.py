"""``tokentop snapshot`` end to end on real JSONL files: text, --json contract, --csv, time windows,
globs, counted skips, plans from a TOML config, and config errors."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time

import pytest

NOW = time.time()


def line(**fields) -> str:
    base = {"ts": NOW - 600, "user": "alice", "provider": "openai", "model": "gpt-4o",
            "prompt_tokens": 100, "completion_tokens": 50}
    return json.dumps({**base, **fields}) + "\n"


def snapshot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tokentop", "snapshot", *args],
                          capture_output=True, text=True, timeout=30)


@pytest.fixture
def logs(tmp_path):
    (tmp_path / "a.jsonl").write_text(
        line() + line(user="bob", provider="anthropic", model="claude-sonnet-4", prompt_tokens=1000,
                      completion_tokens=200, token_source="estimated")
        + "garbage\n" + '{"model": "x", "prompt_tokens": -5}\n'
    )
    (tmp_path / "b.jsonl").write_text(line(ts=NOW - 7200, platform="web") + "[1, 2]\n")
    return tmp_path


def test_json_contract(logs):
    result = snapshot("--json", str(logs / "*.jsonl"))
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {"version", "generated_at", "sources", "totals", "by_provider", "by_model", "by_user",
            "by_platform", "by_source", "alerts"} <= set(doc)
    (src,) = doc["sources"]
    assert {"name", "kind", "status", "events", "skipped", "last_event_at", "error"} <= set(src)
    assert src["kind"] == "jsonl" and src["status"] == "ok" and src["events"] == 3 and src["skipped"] == 3
    assert src["skip_reasons"]["invalid_json"] == 1 and src["skip_reasons"]["not_an_object"] == 1
    assert sum(src["skip_reasons"].values()) == 3
    assert doc["totals"]["requests"] == 3 and doc["totals"]["total_tokens"] == 150 + 1200 + 150
    assert doc["by_provider"]["anthropic"]["estimated"] == 1
    assert doc["by_provider"]["openai"]["requests"] == 2 and doc["by_provider"]["openai"]["accuracy"] == 1.0
    assert doc["by_model"]["openai/gpt-4o"]["model"] == "gpt-4o"
    assert doc["by_platform"]["web"]["requests"] == 1
    alice = doc["by_user"]["alice"]
    assert {"plan", "limit", "period_tokens", "percent", "projected_exhaustion_at"} <= set(alice)
    assert alice["plan"] is None and alice["percent"] is None
    assert doc["alerts"] == []


def test_text_report(logs):
    result = snapshot(str(logs / "*.jsonl"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("tokentop snapshot at ")
    for title in ("Sources", "Totals", "By provider", "By model", "By user", "Alerts: none"):
        assert title in out
    assert "anthropic/claude-sonnet-4" in out and "*.jsonl" in out


def test_csv(logs):
    result = snapshot("--csv", str(logs / "a.jsonl"), str(logs / "b.jsonl"))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    total = next(r for r in rows if r["group"] == "total")
    assert total["requests"] == "3"
    sources = {r["name"]: r for r in rows if r["group"] == "source"}
    assert sources["a.jsonl"]["requests"] == "2" and sources["b.jsonl"]["requests"] == "1"


def test_since_and_until(logs):
    doc = json.loads(snapshot("--json", "--since", "1h", str(logs / "*.jsonl")).stdout)
    assert doc["totals"]["requests"] == 2
    doc = json.loads(snapshot("--json", "--until", str(NOW - 3600), str(logs / "*.jsonl")).stdout)
    assert doc["totals"]["requests"] == 1


def test_plans_from_config_give_percent(logs, tmp_path):
    config = tmp_path / "tokentop.toml"
    config.write_text('[plans.pro]\nlimit = 1000\n[users.plans]\nalice = "pro"\n')
    doc = json.loads(snapshot("--json", "--config", str(config), str(logs / "*.jsonl")).stdout)
    alice = doc["by_user"]["alice"]
    assert alice["plan"] == "pro" and alice["limit"] == 1000
    assert alice["period_tokens"] == 300 and alice["percent"] == 30.0
    assert "projected_exhaustion_at" in alice


def test_sources_from_config(logs, tmp_path):
    config = tmp_path / "tokentop.toml"
    config.write_text(f'[sources.gateway]\nkind = "jsonl"\npath = "{logs}/*.jsonl"\n')
    doc = json.loads(snapshot("--json", "--config", str(config)).stdout)
    assert doc["sources"][0]["name"] == "gateway" and doc["totals"]["requests"] == 3


@pytest.mark.parametrize(("toml", "key"), [
    ('[plans.pro]\nlimit = "lots"\n', "plans.pro.limit"),
    ('[sources.gw]\nkind = "jsonl"\npath = "x"\nfollow_me = true\n', "sources.gw.follow_me"),
    ("[plans\n", "not valid TOML"),
])
def test_bad_config_exits_2_naming_file_and_key(logs, tmp_path, toml, key):
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    result = snapshot("--config", str(config), str(logs / "a.jsonl"))
    if "follow_me" in toml:
        result = snapshot("--config", str(config))
    assert result.returncode == 2
    assert str(config) in result.stderr and key in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_exits_2(tmp_path):
    result = snapshot("--json", str(tmp_path / "none.jsonl"))
    assert result.returncode == 2  # nothing could be read
    (status,) = json.loads(result.stdout)["sources"]
    assert status["status"] == "waiting" and status["error"] is None
    assert status["detail"] == f"waiting for {tmp_path / 'none.jsonl'} to appear"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_a_readable_error(tmp_path):
    log = tmp_path / "secret.jsonl"
    log.write_text(line())
    log.chmod(0o000)
    result = snapshot("--json", str(log))
    assert result.returncode == 2, result.stderr
    assert json.loads(result.stdout)["sources"][0]["error"] == f"permission denied: {log}"


def test_locate_names_the_config_file_in_use_and_the_themes_dir(tmp_path, isolated_config):
    config = tmp_path / "t.toml"
    config.write_text("[billing]\nperiod = 'day'\n")
    out = subprocess.run([sys.executable, "-m", "tokentop", "locate", "--config", str(config)],
                         capture_output=True, text=True, check=True).stdout
    assert f"config file:  {config}" in out
    assert "user themes:" in out and "themes" in out
