"""The hand-made record shapes applications log, and what each field becomes."""

from __future__ import annotations

import pytest

from .helpers import READ_TIME, normalise

EPOCH = 1_790_000_000  # 2026-09-21T14:13:20Z
ISO = "2026-09-21T14:13:20Z"


def test_flat_snake_case() -> None:
    e = normalise({"timestamp": ISO, "user": "u1", "provider": "openai", "model": "gpt-4o",
                   "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                   "cached_tokens": 30, "reasoning_tokens": 5, "cache_write_tokens": 7})
    assert (e.ts, e.user, e.provider, e.model) == (EPOCH, "u1", "openai", "gpt-4o")
    assert (e.prompt_tokens, e.completion_tokens, e.total_tokens) == (100, 20, 120)
    assert (e.cached_tokens, e.reasoning_tokens, e.cache_write_tokens) == (30, 5, 7)
    assert e.token_source == "actual" and not e.mismatched and not e.time_inferred
    assert e.format == "app"


def test_camel_case_prompt_completion() -> None:
    e = normalise({"createdAt": ISO, "userId": "u2", "modelUsed": "claude-sonnet-4-5",
                   "promptTokens": 11, "completionTokens": 22, "totalTokens": 33})
    assert (e.user, e.model, e.prompt_tokens, e.completion_tokens, e.total_tokens) == (
        "u2", "claude-sonnet-4-5", 11, 22, 33)


def test_camel_case_input_output() -> None:
    e = normalise({"timestamp": ISO, "user": "u", "model": "m", "inputTokens": 7, "outputTokens": 3,
                   "totalTokens": 10, "cachedTokens": 2, "reasoningTokens": 1})
    assert (e.prompt_tokens, e.completion_tokens, e.total_tokens, e.cached_tokens, e.reasoning_tokens) == (
        7, 3, 10, 2, 1)


def test_nested_openai_usage_with_details() -> None:
    e = normalise({"created": EPOCH, "id": "chatcmpl-1", "model": "gpt-4o-mini", "usage": {
        "prompt_tokens": 500, "completion_tokens": 80, "total_tokens": 580,
        "prompt_tokens_details": {"cached_tokens": 256},
        "completion_tokens_details": {"reasoning_tokens": 64}}})
    assert (e.prompt_tokens, e.completion_tokens, e.total_tokens) == (500, 80, 580)
    assert (e.cached_tokens, e.reasoning_tokens) == (256, 64)
    assert e.request_id == "chatcmpl-1" and e.ts == EPOCH


def test_usage_object_wins_over_top_level_counts() -> None:
    e = normalise({"model": "m", "prompt_tokens": 1, "usage": {"prompt_tokens": 9, "completion_tokens": 1}})
    assert e.prompt_tokens == 9


def test_bare_tokens_number_is_a_total() -> None:
    e = normalise({"model": "m", "tokens": 1500})
    assert (e.prompt_tokens, e.completion_tokens, e.total_tokens, e.token_source) == (0, 0, 1500, "actual")


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("token_source", "actual", "actual"),
    ("token_source", "estimated", "estimated"),
    ("tokenSource", "estimated", "estimated"),
    ("tokenSource", "actual", "actual"),
    ("token_source", "unknown", "estimated"),
    ("token_source", "tiktoken", "estimated"),
    ("token_source", None, "actual"),
])
def test_token_source(key: str, value: str | None, expected: str) -> None:
    e = normalise({"model": "m", "prompt_tokens": 1, key: value})
    assert e.token_source == expected


def test_absent_token_source_uses_the_source_default() -> None:
    assert normalise({"model": "m", "prompt_tokens": 1}).token_source == "actual"
    e = normalise({"model": "m", "prompt_tokens": 1}, default_token_source="estimated")
    assert e.token_source == "estimated"
    e = normalise({"model": "m", "prompt_tokens": 1, "token_source": "actual"}, default_token_source="estimated")
    assert e.token_source == "actual"


@pytest.mark.parametrize("key", ["user", "userId", "user_id", "username", "companyId", "company_id"])
def test_identity_fields(key: str) -> None:
    assert normalise({key: "acme", "prompt_tokens": 1}).user == "acme"


def test_numeric_user_id_becomes_text() -> None:
    assert normalise({"user_id": 42, "prompt_tokens": 1}).user == "42"


def test_tags_from_metadata_and_top_level() -> None:
    e = normalise({"prompt_tokens": 1, "metadata": {"platform": "ios", "source": "chat"}})
    assert (e.platform, e.endpoint) == ("ios", "chat")
    e = normalise({"prompt_tokens": 1, "platform": "web", "source": "summarise"})
    assert (e.platform, e.endpoint) == ("web", "summarise")
    e = normalise({"prompt_tokens": 1, "type": "embedding"})
    assert e.endpoint == "embedding"
    e = normalise({"prompt_tokens": 1, "metadata": {"platform": "ios"}, "platform": "web"})
    assert e.platform == "ios"


def test_api_key_is_never_kept_only_a_fingerprint() -> None:
    secret = "sk-live-abcdef0123456789"
    e = normalise({"prompt_tokens": 1, "api_key": secret})
    assert e.api_key_id is not None and e.api_key_id.startswith("sha256:")
    assert secret not in repr(e)
    assert e.raw is not None and secret.encode() not in e.raw
    same = normalise({"prompt_tokens": 1, "apiKey": secret})
    assert same.api_key_id == e.api_key_id
    assert normalise({"prompt_tokens": 1, "api_key": "sk-other"}).api_key_id != e.api_key_id


def test_api_key_id_is_kept_as_is() -> None:
    assert normalise({"prompt_tokens": 1, "api_key_id": "key_12"}).api_key_id == "key_12"


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-09-21T14:13:20Z", EPOCH),
    ("2026-09-21T14:13:20", EPOCH),  # no zone means UTC
    ("2026-09-21 14:13:20", EPOCH),
    ("2026-09-21T16:13:20+02:00", EPOCH),
    ("2026-09-21T14:13:20.250Z", EPOCH + 0.25),
    ("2026-09-21T14:13:20.123456789Z", EPOCH + 0.123456),
    ("2026-09-21T16:13:20.123456789+02:00", EPOCH + 0.123456),
    (EPOCH, EPOCH),
    (EPOCH + 0.5, EPOCH + 0.5),
    (EPOCH * 1000, EPOCH),
    (EPOCH * 1_000_000, EPOCH),
    (EPOCH * 1_000_000_000, EPOCH),
    (str(EPOCH), EPOCH),
    (str(EPOCH * 1000), EPOCH),
    (str(EPOCH * 1_000_000_000), EPOCH),
    ("1790000000.5", EPOCH + 0.5),
])
def test_time_forms(value: object, expected: float) -> None:
    e = normalise({"timestamp": value, "prompt_tokens": 1})
    assert e.ts == pytest.approx(expected, abs=1e-6)
    assert not e.time_inferred


@pytest.mark.parametrize("key", ["timestamp", "ts", "time", "created_at", "createdAt", "created", "datetime_utc",
                                 "date", "startTime"])
def test_time_field_names(key: str) -> None:
    assert normalise({key: ISO, "prompt_tokens": 1}).ts == EPOCH


def test_record_without_time_gets_the_read_time() -> None:
    e = normalise({"prompt_tokens": 1}, read_time=READ_TIME + 5)
    assert e.ts == READ_TIME + 5 and e.time_inferred


def test_other_fields() -> None:
    e = normalise({"prompt_tokens": 1, "cost_usd": "0.25", "latency_ms": "1.5s", "status": "error",
                   "error": {"message": "rate limited"}, "cache_hit": "True", "team": "t1", "endpoint": "chat"})
    assert (e.cost, e.latency_ms, e.status, e.error, e.cache_hit, e.team, e.endpoint) == (
        0.25, 1500.0, "error", "rate limited", True, "t1", "chat")
    assert e.is_error


def test_credentials_in_metadata_are_masked_in_the_raw_line() -> None:
    e = normalise({"prompt_tokens": 1, "metadata": {"authorization": "Bearer tok-123", "platform": "ios"}})
    assert e.raw is not None and b"tok-123" not in e.raw and b"ios" in e.raw


@pytest.mark.parametrize(("record", "field", "expected"), [
    ({"user": None, "userId": "bob", "prompt_tokens": 1}, "user", "bob"),
    ({"userId": "bob", "user": "ann", "prompt_tokens": 1}, "user", "ann"),  # order of preference, not of the line
    ({"user": "", "userId": "bob", "prompt_tokens": 1}, "user", None),
    ({"promptTokens": 7, "prompt_tokens": 5}, "prompt_tokens", 5),
    ({"usage": {"inputTokens": 3, "prompt_tokens": None}}, "prompt_tokens", 3),
    ({"createdAt": "2026-09-21T14:13:20Z", "timestamp": 1}, "ts", 1.0),
])
def test_a_field_spelt_twice_reads_the_preferred_spelling(record: dict, field: str, expected: object) -> None:
    assert getattr(normalise(record), field) == expected


def test_spelling_table_reads_exactly_like_first_spelling_wins() -> None:
    """The one-pass read and the spelling-by-spelling read agree on any mix of spellings and nulls."""
    import random

    from tokentop.core.fields import first
    from tokentop.core.formats.app import COUNTS, LABELS, Spellings

    groups = {**LABELS, **COUNTS}
    table = Spellings(groups)
    spellings = [s for names in groups.values() for s in names] + ["other", "metadata"]
    rng = random.Random(11)
    for _ in range(3000):
        keys = rng.sample(spellings, rng.randrange(1, 12))
        record = {k: rng.choice([None, 0, 7, "x", ""]) for k in keys}
        read = table.pick(record)
        for name, names in groups.items():
            assert read.get(name) == first(record, names), (record, name)
