"""``--reference SOURCE`` on the command line (issue 15, point 10): a source compared with the others
and not counted, without a config file."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import orjson
import pytest

from tokentop.cli import main, parse_args
from tokentop.core.event import iso
from tokentop.config import parse_config
from tokentop.sources.registry import command_line_configs

FIXTURES = Path(__file__).parent / "formats" / "fixtures"


def lines(n: int, every: float = 2.0, **fields) -> str:
    now = time.time()
    return "".join(json.dumps({"ts": now - (n - i) * every, "user": "alice", "provider": "openai", "model": "gpt-4o",
                               "prompt_tokens": 100, "completion_tokens": 50, **fields}) + "\n" for i in range(n))


def run(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def test_snapshot_counts_the_primary_and_shows_the_reference(tmp_path, capsys):
    (tmp_path / "gw.jsonl").write_text(lines(10))
    (tmp_path / "ledger.jsonl").write_text(lines(4, model="gpt-4o-mini"))
    code, out = run(capsys, "snapshot", "--json", str(tmp_path / "gw.jsonl"), "--reference", str(tmp_path / "ledger.jsonl"))
    doc = orjson.loads(out)
    assert code == 0 and doc["totals"]["requests"] == 10 and list(doc["by_model"]) == ["openai/gpt-4o"]
    assert doc["by_source"]["ledger.jsonl"]["requests"] == 4  # shown, not counted
    assert [(s["name"], s["role"]) for s in doc["sources"]] == [("gw.jsonl", "primary"), ("ledger.jsonl", "reference")]
    code, out = run(capsys, "snapshot", str(tmp_path / "gw.jsonl"), "--reference", str(tmp_path / "ledger.jsonl"))
    assert "jsonl (reference)" in out


def test_check_against_a_sqlite_ledger_given_on_the_command_line(tmp_path, capsys):
    """``tokentop check gateway.jsonl --reference usage.db``: seed 004's webhook platform the ledger
    never recorded is critical, exactly as with a config file."""
    (tmp_path / "gw.jsonl").write_text(lines(30, platform="playground") + lines(30, platform="instagram"))
    db = tmp_path / "usage.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE usage_logs (id INTEGER PRIMARY KEY, created_at REAL, user_id TEXT, provider TEXT,"
                     " model TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, platform TEXT)")
        now = time.time()
        conn.executemany("INSERT INTO usage_logs (created_at, user_id, provider, model, prompt_tokens,"
                         " completion_tokens, platform) VALUES (?, 'alice', 'openai', 'gpt-4o', 100, 50, 'playground')",
                         [(now - (30 - i) * 2.0,) for i in range(30)])
    conn.close()
    code, out = run(capsys, "check", str(tmp_path / "gw.jsonl"), "--reference", str(db))
    assert code == 2, out
    assert "untracked_provider" in out and "platform=instagram source=usage.db" in out
    code, out = run(capsys, "check", str(tmp_path / "gw.jsonl"))  # no reference: nothing to compare with
    assert "untracked_provider" not in out


def test_exports_serve_as_references(tmp_path, capsys):
    """A Langfuse export that holds only part of the gateway's traffic: the gap is reported."""
    (tmp_path / "gw.jsonl").write_text(lines(30, provider="anthropic", model="claude-sonnet-4-5")
                                       + lines(30, provider="openai"))
    now = time.time()
    export = [{"id": f"obs-{i}", "traceId": f"tr-{i}", "type": "GENERATION", "startTime": iso(now - (30 - i) * 2.0),
               "model": "claude-sonnet-4-5", "usageDetails": {"input": 100, "output": 50, "total": 150}}
              for i in range(30)]
    (tmp_path / "langfuse.jsonl").write_text("".join(json.dumps(o) + "\n" for o in export))
    code, out = run(capsys, "check", str(tmp_path / "gw.jsonl"), "--reference", str(tmp_path / "langfuse.jsonl"))
    assert code == 2, out
    assert "provider=openai source=langfuse.jsonl" in out and "provider=anthropic" not in out


def test_reference_flag_on_every_command_and_with_configured_sources(tmp_path):
    for command in ("run", "snapshot", "check", "tail"):
        args = parse_args([command, "a.jsonl", "--reference", "b.db", "--reference", "c.jsonl"])
        assert (args.sources, args.reference) == (["a.jsonl"], ["b.db", "c.jsonl"])
    assert parse_args(["a.jsonl", "--reference", "b.db"]).reference == ["b.db"]  # the app, without "run"
    config = parse_config({"sources": {"gw": {"kind": "jsonl", "path": "/g.jsonl"},
                                       "ledger": {"kind": "sqlite", "path": "/u.db"}}})
    # with no SOURCE, the configured sources count except those named by --reference
    entries = command_line_configs([], ["ledger"], config)
    assert [(e.name, e.options.get("role", "primary")) for e in entries] == [("gw", "primary"), ("ledger", "reference")]
    assert command_line_configs([], [], parse_config({})) == []


@pytest.mark.parametrize("name", ["langfuse.jsonl", "helicone.jsonl"])
def test_fixture_exports_read_as_sources(name, capsys):
    code, out = run(capsys, "snapshot", "--json", str(FIXTURES / name))
    doc = orjson.loads(out)
    assert code == 0 and doc["sources"][0]["skipped"] == 0 and doc["totals"]["requests"] >= 4


def test_two_counted_sources_holding_the_same_requests_count_them_once(tmp_path, capsys):
    """``tokentop snapshot gateway.jsonl usage.db`` where the ledger records the gateway's requests
    (and a few of its own): each request once, and each source's share the other also holds."""
    now = time.time()
    gateway = [{"ts": now - 300 + i, "request_id": f"chatcmpl-{i:04d}", "user": "alice", "provider": "openai",
                "model": "gpt-4o", "prompt_tokens": 100 + i, "completion_tokens": 10} for i in range(40)]
    (tmp_path / "gateway.jsonl").write_text("".join(json.dumps(r) + "\n" for r in gateway))
    db = tmp_path / "usage.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE usage_logs (id INTEGER PRIMARY KEY, created_at REAL, request_id TEXT, user_id TEXT,"
                     " provider TEXT, model TEXT, prompt_tokens INTEGER, completion_tokens INTEGER)")
        rows = [(r["ts"] + 0.5, r["request_id"], "alice", "openai", "gpt-4o", r["prompt_tokens"], 10)
                for r in gateway[10:]]  # the ledger missed the first ten ...
        rows += [(now - 10 + i, f"chatcmpl-x{i}", "alice", "openai", "gpt-4o", 500, 10) for i in range(5)]  # ... has 5 more
        conn.executemany("INSERT INTO usage_logs (created_at, request_id, user_id, provider, model, prompt_tokens,"
                         " completion_tokens) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    conn.close()
    expected_tokens = sum(r["prompt_tokens"] + 10 for r in gateway) + 5 * 510
    for order in ((str(tmp_path / "gateway.jsonl"), str(db)), (str(db), str(tmp_path / "gateway.jsonl"))):
        doc = orjson.loads(run(capsys, "snapshot", "--json", *order)[1])
        assert (doc["totals"]["requests"], doc["totals"]["total_tokens"]) == (45, expected_tokens)
        overlap = {s["name"]: s["overlap"] for s in doc["sources"]}
        assert overlap["gateway.jsonl"] == {"requests": 40, "shared": {"usage.db": 30}, "released_early": 0}
        assert overlap["usage.db"] == {"requests": 35, "shared": {"gateway.jsonl": 30}, "released_early": 0}
    text = run(capsys, "snapshot", str(tmp_path / "gateway.jsonl"), str(db))[1]
    assert "30 of 40 with usage.db" in text and "30 of 35 with gateway.jsonl" in text
    # marked as a reference, the ledger is compared instead: no overlap, the gateway's figures
    doc = orjson.loads(run(capsys, "snapshot", "--json", str(tmp_path / "gateway.jsonl"), "--reference", str(db))[1])
    assert doc["totals"]["requests"] == 40 and all("overlap" not in s for s in doc["sources"])


def test_tail_opens_references_as_references(tmp_path):
    from tokentop.tail import tail_sources

    (tmp_path / "gw.jsonl").write_text(lines(1))
    (tmp_path / "ref.jsonl").write_text(lines(1))
    args = parse_args(["tail", "--from-start", str(tmp_path / "gw.jsonl"), "--reference", str(tmp_path / "ref.jsonl")])
    sources = tail_sources(args, parse_config({}))
    assert [(s.name, s.role) for s in sources] == [("gw.jsonl", "primary"), ("ref.jsonl", "reference")]
    assert all(s.start.mode == "beginning" for s in sources)  # the backfill flags apply to both


def test_a_helicone_export_as_reference(tmp_path, capsys):
    (tmp_path / "gw.jsonl").write_text(lines(30, provider="anthropic", model="claude-sonnet-4-5")
                                       + lines(30, provider="openai"))
    now = time.time()
    rows = [{"request_id": f"6c1e1a0e-0000-4000-8000-{i:012d}", "request_created_at": iso(now - (30 - i) * 2.0),
             "provider": "ANTHROPIC", "model": "claude-sonnet-4-5", "prompt_tokens": 100, "completion_tokens": 50,
             "prompt_cache_read_tokens": 0, "prompt_cache_write_tokens": 0, "response_status": 200}
            for i in range(30)]
    (tmp_path / "helicone.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out = run(capsys, "check", str(tmp_path / "gw.jsonl"), "--reference", str(tmp_path / "helicone.jsonl"))
    assert code == 2 and "provider=openai source=helicone.jsonl" in out, out
