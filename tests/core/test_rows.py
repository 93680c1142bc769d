"""The compiled row reader gives exactly what the general path gives (a dict per row, then
``Normaliser.from_record``): the same events, the same skips with the same details, on tricky rows
and on random ones; and it really is the path plain rows take."""

from __future__ import annotations

import random
from typing import Any

import msgspec
import pytest

from tokentop.config import Config
from tokentop.core.event import SkipRecord
from tokentop.core.rows import RowDecoder
from tokentop.sources.ledger_presets import PRESETS
from tokentop.sources.options import normaliser_for

READ_TIME = 1_800_000_000.0
USAGE_JSON = PRESETS["usage_logs"].json_columns
SNAKE = ("id", "created_at", "user_id", "api_key_id", "provider", "model", "prompt_tokens", "completion_tokens",
         "total_tokens", "token_source", "cost", "latency_ms", "status", "metadata")
CAMEL = ("id", "companyId", "type", "provider", "model", "inputTokens", "outputTokens", "totalTokens", "metadata",
         "createdAt")
EVERYTHING = SNAKE + ("userId", "team", "cached_tokens", "cacheWriteTokens", "reasoning_tokens", "cache_hit",
                      "platform", "endpoint", "source", "type", "error", "usage", "token_details", "tokens",
                      "api_key", "costUsd", "durationMs", "timestamp", "requestId", "note")


def outcome(decoder: RowDecoder, rows: list[tuple]) -> tuple[list[dict[str, Any]], list[str]]:
    skips: list[SkipRecord] = []
    events = decoder.decode(rows, READ_TIME, skips.append)
    # bit-for-bit: every float by its repr (the epoch itself, not ms; -0.0 apart from 0.0)
    return [{k: (repr(v) if isinstance(v, float) else v) for k, v in msgspec.structs.asdict(e).items()}
            for e in events], [str(s) for s in skips]


def decoders(names: tuple[str, ...], json_columns: tuple[str, ...] = USAGE_JSON, **options: Any
             ) -> tuple[RowDecoder, RowDecoder]:
    made = []
    for compiled in (True, False):
        normaliser = normaliser_for("ledger", options, Config())  # with the shipped price table
        made.append(RowDecoder(normaliser, names, json_columns, "usage_logs rowid", compiled=compiled))
    return made[0], made[1]


def assert_same(names: tuple[str, ...], rows: list[tuple], json_columns: tuple[str, ...] = USAGE_JSON,
                **options: Any) -> tuple[list[dict[str, Any]], list[str]]:
    fast, general = decoders(names, json_columns, **options)
    assert fast.compiled is not None
    rows = [(i, *row) for i, row in enumerate(rows, 1)]
    expected = outcome(general, rows)
    assert outcome(fast, rows) == expected
    return expected


def test_plain_rows_take_the_compiled_path(monkeypatch):
    fast, _ = decoders(SNAKE, format="app")
    calls = []
    real = fast.general
    monkeypatch.setattr(fast, "general", lambda row, t: calls.append(row) or real(row, t))
    plain = (7, "2025-06-01T10:00:00Z", "u1", "k1", "openai", "gpt-4o", 100, 20, 120, "actual", 0.01, 900, "success",
             '{"platform": "web", "source": "api"}')
    odd = (8, "2025-06-01T10:00:01Z", "u1", "k1", "openai", "gpt-4o", "100", 20, 120, "actual", 0.01, 900, "ok", None)
    events = fast.decode([(1, *plain), (2, *odd)], READ_TIME, pytest.fail)
    assert [row[0] for row in calls] == [2]  # only the count written as text went the general way
    assert (events[0].platform, events[0].endpoint, events[0].request_id, events[1].prompt_tokens) == (
        "web", "api", "7", 100)


TRICKY_SNAKE = [
    (1, "2025-06-01 10:00:00", "u1", "k1", "anthropic", "claude-sonnet-4", 1000, 200, 1200, "actual", 0.01, 900,
     "success", None),
    (2, "2025-06-01T10:00:01.5Z", None, None, None, "gpt-4o", 10, 5, 99, None, None, None, "error", ""),
    (3, None, "", "  ", "", "", None, None, None, "estimated", None, None, None, None),  # nothing at all
    (4, "2025-06-01T10:00:02+02:00", "u2", None, "OPENAI", "house-model-7", "12", "3", None, "unknown", "0.5", "1.2s",
     " ", '{"platform": 7, "source": ""}'),  # numbers as text, a latency with a unit
    (5, "2025-06-01T10:00:03Z", "u2", None, "azure_openai", "gpt-4o", -1, 5, 4, None, None, None, None, None),
    (6, "2025-06-01T10:00:04Z", "u2", None, None, None, 1.5, 5, None, None, None, None, None, None),
    (7, "2025-06-01T10:00:05Z", "u2", None, None, None, 2.0, 5, None, None, -0.0, -5, None, '{"platform": '),
    (8, "2025-06-01T10:00:06Z", 42, 3.5, 9, 1.0, 100_000_001, 0, 0, 1, -1.0, float("inf"), 200, "[1, 2]"),
    (9, "not a time", "u3", None, None, None, 1, 1, 2, None, None, None, None, None),
    (10, 1_748_772_000_123, "u3", None, None, None, 1, 1, 2, None, 0, 0, "ok", '{"platform": "ios"}'),
    (11, "1748772000.5", b"blob", None, None, None, 1, 1, 2, None, None, None, "ok", b'{"platform": "tv"}'),
    (12, "2025-06-01T10:00:07.1234567Z", "u4", None, "gemini", "gemini-2.5-flash", 5, 5, 10, "actual", 1, 2.5, "ok",
     '{"source": "batch", "platform": "web"}'),
    (13, "3000-01-01T00:00:00Z", "u4", None, None, None, 1, 1, 2, None, None, None, None, None),
    (14, "2300-06-01T10:00:00.25Z", "u4", None, None, None, 1, 1, 2, None, None, None, None, None),
    (15, "\u2003", "\u2003", "k", "\u2003", "gpt-4o", None, 7, None, None, None, None, "\u2003", 3),
    (16, "2025-06-01T10:00:61Z", "u5", None, None, None, 1, 1, 2, None, None, None, None, None),
    (17, "2025-06-01T10:00:08", "u5", None, None, "gpt-4o-mini", 0, 0, 0, None, None, None, None, '{"metadata": {}}'),
    *[(18 + i, "2025-06-01T10:00:08", "u6", None, None, "gpt-4o", 10, 5, total, None, None, None, None, None)
      for i, total in enumerate((13, 14, 15, 16, 17))],  # totals 2 and 1 off: mismatched only beyond 1
]


def test_tricky_snake_case_rows_read_the_same():
    events, skips = assert_same(SNAKE, TRICKY_SNAKE, format="app")
    assert len(events) == 14 and {"negative_tokens", "wrong_type", "invalid_json", "bad_time"} <= {
        s.split(":")[0] for s in skips}
    assert any("usage_logs rowid 7, column metadata" in s for s in skips)


def test_tricky_rows_with_an_estimated_default_and_no_forced_format():
    assert_same(SNAKE[:-1], [row[:-1] for row in TRICKY_SNAKE], default_token_source="estimated")


def test_camel_case_rows_with_json_metadata_read_the_same():
    rows = [
        ("c1", "acme", "AUTO_RESPONSE", "OPENAI", "gpt-4o", 1387, 190, 1577,
         '{"platform": "instagram", "source": "webhook"}', "2025-06-01T10:00:00.000Z"),
        ("c2", "acme", "TRAINING", "GEMINI", "gemini-1.5-flash", 842, 156, 998, None, "2025-06-01T10:00:01.000Z"),
        ("c3", "acme", "", None, "gpt-4o", 1, 1, 2, '{"platform": ""}', "2025-06-01T10:00:02.123+00:00"),
        (4, None, None, "OPENAI", "gpt-4o", None, None, None, '{"platform": ', "2025-06-01T10:00:02.000Z"),
    ]
    events, skips = assert_same(CAMEL, rows, format="app")
    assert [e["user"] for e in events] == ["acme", "acme", "acme"] and len(skips) == 1
    assert events[0]["endpoint"] == "webhook" and events[1]["endpoint"] == "TRAINING"


VALUES: list[Any] = [None, None, 0, 7, -1, 1.5, 2.0, -0.0, float("inf"), 10**12, "", " ", "x", "12", "-3", "1.2s",
                     "actual", "estimated", "openai", "claude-3-5-sonnet", "2026-09-21T14:13:20Z",
                     "2026-09-21 14:13:20", "2026-09-21T14:13:20.123456+00:00", "2026-09-21T14:13", 1_790_000_000,
                     1_790_000_000_000, b"\x00", '{"platform": "ios", "source": "chat"}', '{"prompt_tokens": 5}',
                     "[]", "{", "true", "HIT"]


CLEAN: dict[str, list[Any]] = {  # values the compiled reader reads itself
    "created_at": ["2025-06-01T10:00:00Z", "2025-06-01 10:00:01", "2025-06-01T10:00:02.5Z", None],
    "timestamp": [None, None, None, "2025-06-01T10:01:00.123+00:00"],
    "provider": ["openai", "ANTHROPIC", None], "model": ["gpt-4o", "claude-sonnet-4", "house-7", None],
    "prompt_tokens": [10, 0, None], "completion_tokens": [5, 0, None], "total_tokens": [15, 13, 14, 16, 17, None],
    "cost": [0.5, 0, None], "costUsd": [None], "latency_ms": [900, 12.5, None], "durationMs": [None],
    "metadata": ['{"platform": "ios", "source": "chat"}', '{"platform": 3}', "", None],
    "token_source": ["actual", "estimated", "unknown", None], "cache_hit": [None, 1, "true", 0],
    "cached_tokens": [None, 3], "cacheWriteTokens": [None, 2], "reasoning_tokens": [None, 1],
    # columns the compiled reader leaves to the general path whenever they hold a value
    "usage": [None], "token_details": [None], "tokens": [None], "api_key": [None],
}


@pytest.mark.parametrize("seed", range(4))
def test_random_rows_read_the_same(seed, monkeypatch):
    rng = random.Random(seed)
    rows = []
    for _ in range(2000):
        row = [rng.choice(CLEAN.get(name, [None, "x", 7])) for name in EVERYTHING]
        for i in rng.sample(range(len(row)), rng.choice((0, 0, 1, 2, 3))):
            row[i] = rng.choice(VALUES)  # a few odd values: most of them go the general way
        rows.append(tuple(row))
    fast, _ = decoders(EVERYTHING, format="app")
    general_rows = []
    real = fast.general
    monkeypatch.setattr(fast, "general", lambda row, t: general_rows.append(row) or real(row, t))
    fast.decode([(i, *row) for i, row in enumerate(rows, 1)], READ_TIME, lambda skip: None)
    assert len(general_rows) < len(rows) // 2  # the compiled path is what these rows test
    assert_same(EVERYTHING, rows, format="app")


def test_tables_other_formats_may_claim_and_mapped_columns_take_the_general_path():
    assert decoders(SNAKE, format="llm_logs")[0].compiled is None
    llm = ("id", "model", "input_tokens", "output_tokens", "token_details", "datetime_utc")
    assert decoders(llm)[0].compiled is None  # detected per row: llm_logs claims these
    assert decoders(SNAKE)[0].compiled is None  # detected per row: a metadata column may be Bedrock's
    assert decoders(SNAKE[:-1])[0].compiled is not None  # nothing another format detects on: app
    assert decoders(SNAKE, format="app", fields={"team": "metadata.team"})[0].compiled is None


def test_llm_rows_read_as_before():
    names = PRESETS["llm"].columns
    rows = [(1, "r1", "anthropic/claude-3-5-sonnet-latest", None, 12, 345,
             '{"cache_creation_input_tokens": 1000, "cache_read_input_tokens": 3000}', 1200,
             "2025-03-14T09:12:44.123456+00:00", "c1", None)]
    decoder = RowDecoder(normaliser_for("ledger", {"format": "llm_logs"}, Config()), names,
                         PRESETS["llm"].json_columns, "responses rowid")
    (event,) = decoder.decode(rows, READ_TIME, pytest.fail)
    assert (event.prompt_tokens, event.cached_tokens, event.format) == (4012, 3000, "llm_logs")
