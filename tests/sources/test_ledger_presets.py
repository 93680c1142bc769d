"""Ledger presets and options: the seeds' usage_logs tables, simonw/llm's logs.db, mapped columns, errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tokentop.config import Config, ConfigError
from tokentop.sources.ledger import LedgerSource, make_source
from tokentop.sources.registry import open_source


async def read_all(path: Path, **options) -> tuple[list, LedgerSource]:
    source = make_source("ledger", {"path": str(path), **options}, Config())
    events = [e async for batch in source.batches(follow=False) for e in batch.events]
    return events, source


def make_db(path: Path, *statements: str, rows: dict[str, list[tuple]] | None = None) -> Path:
    with sqlite3.connect(path) as db:
        for sql in statements:
            db.execute(sql)
        for table, values in (rows or {}).items():
            for row in values:
                db.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", row)
    db.close()
    return path


SNAKE = ("CREATE TABLE usage_logs (id INTEGER PRIMARY KEY, created_at TEXT, user_id TEXT, api_key_id TEXT,"
         " provider TEXT, model TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER,"
         " token_source TEXT, cost REAL, latency_ms INTEGER, status TEXT)")


async def test_snake_case_usage_logs_keep_null_providers_and_estimates(tmp_path):
    db = make_db(tmp_path / "gw.db", SNAKE, rows={"usage_logs": [
        (1, "2025-06-01 10:00:00", "u1", "k1", "anthropic", "claude-sonnet-4", 1000, 200, 1200, "actual", 0.01, 900, "success"),
        (2, "2025-06-01 10:00:01", "u2", None, None, "house-model-7", 10, 5, 15, "estimated", None, None, "success"),
        (3, "2025-06-01 10:00:02", "u2", None, None, "gpt-4o", 10, 5, 99, None, None, None, "error"),
    ]})
    events, source = await read_all(db)
    assert [e.provider for e in events] == ["anthropic", "unknown", "openai"]
    assert events[2].provider_inferred and not events[0].provider_inferred
    assert [e.token_source for e in events] == ["actual", "estimated", "actual"]
    assert events[2].mismatched and events[2].total_tokens == 99
    assert (events[0].user, events[0].api_key_id, events[0].cost, events[0].latency_ms) == ("u1", "k1", 0.01, 900)
    assert events[0].ts == 1748772000.0  # naive SQL time read as UTC
    assert source.status.skipped == 0 and "usage_logs (usage_logs)" in source.status.detail


async def test_camel_case_usage_logs_with_json_metadata(tmp_path):
    db = make_db(
        tmp_path / "app.db",
        'CREATE TABLE usage_logs (id TEXT PRIMARY KEY, "companyId" TEXT, type TEXT, provider TEXT, model TEXT,'
        ' "inputTokens" INTEGER, "outputTokens" INTEGER, "totalTokens" INTEGER, metadata TEXT, "createdAt" TEXT)',
        rows={"usage_logs": [
            ("c1", "acme", "AUTO_RESPONSE", "OPENAI", "gpt-4o", 1387, 190, 1577,
             '{"platform": "instagram", "source": "webhook"}', "2025-06-01T10:00:00.000Z"),
            ("c2", "acme", "TRAINING", "GEMINI", "gemini-1.5-flash", 842, 156, 998, None, "2025-06-01T10:00:01.000Z"),
            ("c3", "acme", "AUTO_RESPONSE", "OPENAI", "gpt-4o", 1, 1, 2, '{"platform": ', "2025-06-01T10:00:02.000Z"),
        ]})
    events, source = await read_all(db)
    assert [(e.provider, e.user, e.prompt_tokens, e.completion_tokens) for e in events] == [
        ("openai", "acme", 1387, 190), ("gemini", "acme", 842, 156)]
    assert (events[0].platform, events[0].endpoint, events[0].request_id) == ("instagram", "webhook", "c1")
    assert events[1].endpoint == "TRAINING"
    assert source.status.skip_reasons == {"invalid_json": 1}  # a bad JSON column is a counted skip
    assert "usage_logs rowid 3, column metadata" in source.status.last_skip


LLM_RESPONSES = ("CREATE TABLE responses (id TEXT PRIMARY KEY, model TEXT, prompt TEXT, system TEXT, response TEXT,"
                 " conversation_id TEXT, duration_ms INTEGER, datetime_utc TEXT, input_tokens INTEGER,"
                 " output_tokens INTEGER, token_details TEXT)")
LLM_TURNS = ("CREATE TABLE turns (id TEXT PRIMARY KEY, thread_id TEXT, model TEXT, resolved_model TEXT,"
             " options_json TEXT, input_tokens INTEGER, output_tokens INTEGER, token_details TEXT,"
             " duration_ms INTEGER, datetime_utc TEXT)")


async def test_llm_logs_db_reads_both_tables_with_each_plugins_convention(tmp_path):
    db = make_db(tmp_path / "logs.db", LLM_RESPONSES, LLM_TURNS, rows={
        "responses": [
            # before llm 0.20: naive datetime; before 0.19: no usage at all
            ("r0", "gpt-3.5-turbo", "hi", None, "hello", "c0", 800, "2024-03-01T10:00:00.123456", None, None, None),
            ("r1", "anthropic/claude-3-5-sonnet-latest", "p", None, "r", "c1", 1200,
             "2025-03-14T09:12:44.123456+00:00", 12, 345,
             '{"cache_creation_input_tokens": 1000, "cache_read_input_tokens": 3000}'),
        ],
        "turns": [
            ("t1", "th", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "{}", 2000, 500,
             '{"prompt_tokens_details": {"cached_tokens": 1664}, "completion_tokens_details": {"reasoning_tokens": 437}}',
             1500, "2026-08-01T10:00:00+00:00"),
            ("t2", "th", "gemini-2.5-flash", None, "{}", 100, 350,
             '{"candidatesTokenCount": 50, "thoughtsTokenCount": 300, "cachedContentTokenCount": 40}',
             700, "2026-08-01T10:00:01+00:00"),
        ],
    })
    events, source = await read_all(db)
    by_id = {e.request_id: e for e in events}
    assert set(by_id) == {"r0", "r1", "t1", "t2"}
    assert by_id["r0"].token_source == "missing" and by_id["r0"].ts == 1709287200.123456
    claude = by_id["r1"]
    assert (claude.provider, claude.prompt_tokens, claude.cached_tokens, claude.cache_write_tokens) == (
        "anthropic", 4012, 3000, 1000)
    assert claude.total_tokens == 4012 + 345 and claude.latency_ms == 1200
    # llm-anthropic's model ids carry the provider: shown once, not "anthropic/anthropic/..."
    assert claude.model == "claude-3-5-sonnet-latest"
    gpt = by_id["t1"]
    assert (gpt.model, gpt.provider, gpt.prompt_tokens, gpt.cached_tokens, gpt.reasoning_tokens) == (
        "gpt-4o-mini-2024-07-18", "openai", 2000, 1664, 437)
    gemini = by_id["t2"]
    assert (gemini.provider, gemini.completion_tokens, gemini.reasoning_tokens, gemini.cached_tokens) == (
        "gemini", 350, 300, 40)
    assert all(e.format == "llm_logs" for e in events)
    assert "missing columns" in source.status.detail  # old responses lack resolved_model


async def test_llm_gemini_rows_from_an_older_plugin_get_their_thoughts_added(tmp_path):
    db = make_db(tmp_path / "logs.db", LLM_RESPONSES, rows={"responses": [
        ("r1", "gemini-2.5-pro", "p", None, "r", "c", 1, "2025-06-01T00:00:00", 100, 50,
         '{"candidatesTokenCount": 50, "thoughtsTokenCount": 300}')]})
    (event,), _ = await read_all(db, preset="llm")
    assert (event.completion_tokens, event.reasoning_tokens) == (350, 300)


async def test_columns_map_custom_names_and_json_paths(tmp_path):
    db = make_db(
        tmp_path / "custom.db",
        "CREATE TABLE calls (seq INTEGER, at TEXT, who TEXT, llm TEXT, tin INTEGER, tout INTEGER, extra TEXT)",
        rows={"calls": [(7, "2025-06-01T00:00:00Z", "ann", "gpt-4o", 10, 20, '{"team": {"name": "red"}}'),
                        (9, "2025-06-01T00:00:01Z", "bob", "gpt-4o", 1, 2, None)]})
    columns = {"ts": "at", "user": "who", "model": "llm", "prompt_tokens": "tin", "completion_tokens": "tout",
               "team": "extra.team.name"}
    events, source = await read_all(db, table="calls", columns=columns, id_column="seq")
    assert [(e.user, e.model, e.prompt_tokens, e.completion_tokens, e.team) for e in events] == [
        ("ann", "gpt-4o", 10, 20, "red"), ("bob", "gpt-4o", 1, 2, None)]
    assert source.status.skipped == 0


async def test_auto_detection_and_the_registry(tmp_path):
    db = make_db(tmp_path / "ledger.sqlite", SNAKE, rows={"usage_logs": [
        (1, "2025-06-01T00:00:00Z", "u", None, "openai", "gpt-4o", 1, 1, 2, "actual", None, None, None)]})
    source = open_source(str(db), Config())
    assert isinstance(source, LedgerSource) and source.kind == "sqlite"
    assert len([e async for b in source.batches(follow=False) for e in b.events]) == 1
    empty = make_db(tmp_path / "other.db", "CREATE TABLE notes (body TEXT)")
    events, src = await read_all(empty)
    assert events == [] and src.status.state == "error" and "no known usage table" in src.status.error


async def test_not_a_database_is_an_error_state(tmp_path):
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"this is not sqlite at all" * 100)
    events, source = await read_all(bogus)
    assert events == [] and source.status.state == "error" and "not a database" in source.status.error


@pytest.mark.parametrize("options, key", [
    ({}, "path"),
    ({"path": "x.db", "preset": "nope"}, "preset"),
    ({"path": "x.db", "preset": ["gateway"]}, "preset"),
    ({"path": "x.db", "poll_interval": 0}, "poll_interval"),
    ({"path": "x.db", "batch_size": 1.5}, "batch_size"),
    ({"path": "x.db", "columns": {"user": 3}}, "columns"),
    ({"path": "x.db", "columns": {"wat": "col"}}, "fields"),
    ({"path": "x.db", "colour": "red"}, "colour"),
])
def test_bad_options_name_the_key(options, key):
    with pytest.raises(ConfigError) as info:
        make_source("led", options, Config())
    assert info.value.key.startswith(f"sources.led.{key}")
