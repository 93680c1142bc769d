"""``tokentop check`` end to end on real JSONL files (needs the JSONL source; skipped without it)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tokentop.sources.jsonl") is None,
                                reason="the JSONL source (tokentop.sources.jsonl) is not in this build")


def lines(n: int, every: float = 2.0, **fields) -> str:
    """``n`` requests ending now, ``every`` seconds apart."""
    now = time.time()
    out = []
    for i in range(n):
        record = {"ts": now - (n - i) * every, "user": "alice", "provider": "openai", "model": "gpt-4o",
                  "prompt_tokens": 100, "completion_tokens": 50, **fields}
        out.append(json.dumps(record) + "\n")
    return "".join(out)


def check(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tokentop", "check", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)


def test_healthy_log_exits_0(tmp_path):
    (tmp_path / "gw.jsonl").write_text(lines(60) + lines(10, cache_hit=True, prompt_tokens=0, completion_tokens=0))
    result = check(str(tmp_path / "gw.jsonl"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: no alerts" in result.stdout


def test_estimated_counts_exit_1_with_a_warning(tmp_path):
    (tmp_path / "gw.jsonl").write_text(lines(70, provider="azure") + lines(30, token_source="estimated", provider="azure"))
    result = check("--json", str(tmp_path / "gw.jsonl"))
    assert result.returncode == 1, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert [(a["rule"], a["severity"], a["subject"]) for a in doc["alerts"]] == [
        ("accuracy_drop", "warning", "provider=azure")]
    assert doc["sources"][0]["status"] == "ok"


def test_unreadable_sources_exit_2(tmp_path):
    result = check(str(tmp_path / "missing.jsonl"))
    assert result.returncode == 2
    assert "source_error" in result.stdout


def test_platform_the_ledger_never_logged_exits_2(tmp_path):
    """Seed 004 with a gateway log and a ledger export declared as a reference source."""
    (tmp_path / "gw.jsonl").write_text(lines(30, platform="playground") + lines(30, platform="instagram"))
    (tmp_path / "ledger.jsonl").write_text(lines(30, platform="playground"))
    (tmp_path / "tokentop.toml").write_text(
        f'[sources.gateway]\nkind = "jsonl"\npath = "{tmp_path / "gw.jsonl"}"\n'
        f'[sources.ledger]\nkind = "jsonl"\nrole = "reference"\npath = "{tmp_path / "ledger.jsonl"}"\n'
    )
    result = check(cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "untracked_provider" in result.stdout and "platform=instagram source=ledger" in result.stdout


def test_muted_in_config_exits_0(tmp_path):
    (tmp_path / "gw.jsonl").write_text(lines(70, provider="azure") + lines(30, token_source="estimated", provider="azure"))
    (tmp_path / "tokentop.toml").write_text('[alerts]\nmute = ["accuracy_drop:provider=azure"]\n')
    result = check(str(tmp_path / "gw.jsonl"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bad_alert_setting_is_a_clear_error(tmp_path):
    (tmp_path / "gw.jsonl").write_text(lines(5))
    (tmp_path / "tokentop.toml").write_text('[alerts.spike]\nfactor = "big"\n')
    result = check(str(tmp_path / "gw.jsonl"), cwd=tmp_path)
    assert result.returncode != 0
    assert "alerts.spike.factor" in result.stderr and "Traceback" not in result.stderr
