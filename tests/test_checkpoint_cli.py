"""``tokentop snapshot`` with checkpoints, as a user runs it: the second run reads only what was appended;
a foreign, truncated or outdated checkpoint is refused in one line and the history read again, with the
same totals; a span (--since/--until) neither uses nor writes one."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _line(i: int, user: str = "alice") -> bytes:
    return json.dumps({"ts": 1790000000 + i, "request_id": f"r{i}", "user": user, "provider": "openai",
                       "model": "gpt-4o", "prompt_tokens": 100, "completion_tokens": 10}).encode() + b"\n"


def _snapshot(*args: str, cwd: Path) -> tuple[dict, str]:
    done = subprocess.run([sys.executable, "-m", "tokentop", "snapshot", "--json", *args], capture_output=True,
                          text=True, cwd=cwd, check=True)
    return json.loads(done.stdout), done.stderr


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "app.jsonl"
    path.write_bytes(b"".join(_line(i) for i in range(300)))
    return path


def test_the_second_run_reads_only_what_was_appended(log: Path, tmp_path: Path):
    first, notice = _snapshot(str(log), cwd=tmp_path)
    assert notice == "" and first["totals"]["requests"] == 300
    with log.open("ab") as out:
        out.write(b"".join(_line(i, "bob") for i in range(300, 320)))
    second, notice = _snapshot(str(log), cwd=tmp_path)
    assert notice == "" and second["totals"]["requests"] == 320 and second["sources"][0]["events"] == 320
    assert second["by_user"]["bob"]["requests"] == 20
    cold, _ = _snapshot("--no-checkpoint", str(log), cwd=tmp_path)
    for doc in (second, cold):
        doc.pop("generated_at")
        for source in doc["sources"]:
            source.pop("lag_seconds")
    assert second == cold


@pytest.mark.parametrize("spoil", ["foreign", "truncated"])
def test_a_foreign_or_truncated_checkpoint_is_refused_and_the_history_read_again(log: Path, tmp_path: Path, spoil):
    _snapshot(str(log), cwd=tmp_path)
    [checkpoint] = _checkpoints(tmp_path)
    if spoil == "foreign":
        other = tmp_path / "other.jsonl"
        other.write_bytes(_line(1, "mallory"))
        _snapshot(str(other), cwd=tmp_path)
        theirs = next(p for p in _checkpoints(tmp_path) if p != checkpoint)
        shutil.copyfile(theirs, checkpoint)
    else:
        checkpoint.write_bytes(checkpoint.read_bytes()[:-100])
    doc, notice = _snapshot(str(log), cwd=tmp_path)
    reason = "belongs to other sources" if spoil == "foreign" else "damaged or truncated"
    assert f"{reason}; reading the history again" in notice and notice.count("\n") == 1
    assert doc["totals"]["requests"] == 300 and "mallory" not in doc["by_user"]


def test_a_config_change_that_affects_counting_makes_it_outdated(log: Path, tmp_path: Path):
    config = tmp_path / "tokentop.toml"
    config.write_text('[billing]\ntimezone = "UTC"\n')
    _snapshot("--config", str(config), str(log), cwd=tmp_path)
    config.write_text('[billing]\ntimezone = "Asia/Tokyo"\n')
    doc, notice = _snapshot("--config", str(config), str(log), cwd=tmp_path)
    assert "is outdated (the plans or periods changed since it was written); reading the history again" in notice
    assert doc["totals"]["requests"] == 300
    again, notice = _snapshot("--config", str(config), str(log), cwd=tmp_path)
    assert notice == "" and again["totals"] == doc["totals"]  # the new checkpoint is used


def test_a_span_neither_uses_nor_writes_a_checkpoint(log: Path, tmp_path: Path):
    doc, _ = _snapshot("--since", "1790000100", "--until", "1790000200", str(log), cwd=tmp_path)
    assert doc["totals"]["requests"] == 100 and _checkpoints(tmp_path) == []
    _snapshot(str(log), cwd=tmp_path)
    doc, _ = _snapshot("--since", "1790000100", str(log), cwd=tmp_path)
    assert doc["totals"]["requests"] == 200  # not the checkpoint's 300


def _checkpoints(tmp_path: Path) -> list[Path]:
    import os

    return sorted(Path(os.environ["TOKENTOP_STATE_DIR"]).glob("checkpoints/*.ckpt"))
