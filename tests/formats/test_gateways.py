from __future__ import annotations

import pytest

from .conftest import COUNTS, fixture_lines, normalise, pick


def test_ollama_final_objects_only():
    chat, kv_cached = normalise(fixture_lines("ollama.jsonl"))
    assert pick(chat, *COUNTS) == dict(prompt_tokens=26, completion_tokens=282, total_tokens=308, cached_tokens=0,
                                       cache_write_tokens=0, reasoning_tokens=0, token_source="actual")
    assert chat.latency_ms == pytest.approx(4883.583458) and chat.provider == "ollama"
    assert chat.ts == pytest.approx(1741943566.987654)
    # prompt_eval_count omitted (prompt served from the KV cache): 0 as reported, still actual usage.
    assert (kv_cached.prompt_tokens, kv_cached.completion_tokens, kv_cached.token_source) == (0, 12, "actual")


def test_bedrock_converse_input_excludes_cache():
    converse, stream_metadata = normalise(fixture_lines("bedrock.jsonl"))
    assert pick(converse, *COUNTS) == dict(prompt_tokens=5030, completion_tokens=120, total_tokens=5150,
                                           cached_tokens=4000, cache_write_tokens=1000, reasoning_tokens=0,
                                           token_source="actual")
    assert not converse.mismatched and converse.latency_ms == 1843.0 and converse.provider == "bedrock"
    assert converse.cost == pytest.approx((30 * 3.0 + 4000 * 0.30 + 1000 * 3.75 + 120 * 15.0) / 1e6)
    assert (stream_metadata.prompt_tokens, stream_metadata.completion_tokens) == (12, 48)


def test_litellm_payload_identity_cache_and_failures():
    events = normalise(fixture_lines("litellm.jsonl"))
    payload, cache_hit, failure, spend, spend_failure = events  # the repeated spend-log row counted once
    assert pick(payload, *COUNTS) == dict(prompt_tokens=3000, completion_tokens=200, total_tokens=3200,
                                          cached_tokens=2000, cache_write_tokens=500, reasoning_tokens=50,
                                          token_source="actual")
    assert (payload.provider, payload.model, payload.cost, payload.cost_computed) == (
        "anthropic", "claude-sonnet-4-20250514", 0.0123, False)
    assert (payload.user, payload.team, payload.api_key_id) == ("alice@example.com", "research", "sha256:88dc28d0f030")
    assert payload.latency_ms == pytest.approx(2500.0) and payload.ts == 1741569952.123
    assert cache_hit.cache_hit and cache_hit.user == "customer-9"
    assert cache_hit.api_key_id.startswith("sha256:") and "RAW-KEY" not in cache_hit.api_key_id
    assert failure.token_source == "missing" and failure.is_error and "Rate limit" in failure.error
    assert failure.api_key_id == "ci-key"
    assert pick(spend, "prompt_tokens", "cached_tokens", "cost", "user", "team", "api_key_id", "latency_ms") == {
        "prompt_tokens": 1000, "cached_tokens": 768, "cost": 0.00042, "user": "alice@example.com",
        "team": "team-123", "api_key_id": "sha256:88dc28d0f030", "latency_ms": 1500.0}
    assert spend.format == "litellm.spendlogs" and not spend.cache_hit
    assert spend_failure.token_source == "missing" and spend_failure.error == "overloaded_error"
    assert spend_failure.cache_hit


def test_otel_export_with_many_spans(per_line):
    skips = []
    events = normalise(fixture_lines("otel.jsonl"), per_line=per_line, skips=skips)
    openai, anthropic, failed = events  # agent span, HTTP spans and the re-exported span are not counted
    # ... and each is a counted skip with its reason, but the re-exported span (a duplicate, absorbed)
    assert sorted(s.reason for s in skips) == ["aggregate_span", "no_usage", "no_usage"]
    assert pick(openai, *COUNTS) == dict(prompt_tokens=1500, completion_tokens=300, total_tokens=1800,
                                         cached_tokens=1024, cache_write_tokens=0, reasoning_tokens=128,
                                         token_source="actual")
    assert (openai.user, openai.platform, openai.model, openai.request_id) == (
        "u-42", "chat-api", "gpt-4o-2024-08-06", "chatcmpl-otel1")
    assert openai.ts == 1741569952.0 and openai.latency_ms == 1250.0 and openai.format == "otel"
    assert (anthropic.provider, anthropic.prompt_tokens, anthropic.user) == ("anthropic", 100, "res-user")
    assert failed.token_source == "missing" and failed.error == "deadline exceeded" and failed.provider == "gemini"


def test_otel_single_event_api_refuses_to_drop_spans():
    from tokentop.core.event import SkipRecord
    from tokentop.core.normalise import NormaliseOptions, Normaliser

    normaliser = Normaliser(NormaliseOptions(source="t"))
    with pytest.raises(SkipRecord, match="several_events"):
        normaliser.from_line(fixture_lines("otel.jsonl")[0], 0.0)
    assert len(normaliser.events_from_line(fixture_lines("otel.jsonl")[0], 0.0)) == 2


def test_litellm_spend_log_payloads_with_json_string_metadata():
    """SpendLogsPayload as the proxy builds it (``metadata=json.dumps(clean_metadata)``), before the
    database write: the cached, cache-write and reasoning counts live in that string."""
    claude, o3 = normalise(fixture_lines("litellm_proxy.jsonl"))
    assert claude.format == o3.format == "litellm.spendlogs"
    assert pick(claude, *COUNTS) == dict(prompt_tokens=5230, completion_tokens=210, total_tokens=5440,
                                         cached_tokens=4096, cache_write_tokens=1024, reasoning_tokens=0,
                                         token_source="actual")
    assert (claude.user, claude.team, claude.cost, claude.provider) == ("alice", "search", 0.0081588, "anthropic")
    assert pick(o3, "completion_tokens", "reasoning_tokens") == {"completion_tokens": 1600, "reasoning_tokens": 1344}
    assert (o3.user, o3.latency_ms) == ("customer-42", 9000.0)


def test_litellm_metadata_string_that_is_not_json_is_a_counted_skip():
    line = fixture_lines("litellm_proxy.jsonl")[0].replace(b'"metadata": "{', b'"metadata": "{{')
    skips: list = []
    assert normalise([line], skips=skips) == []
    assert [s.reason for s in skips] == ["invalid_json"] and "metadata" in str(skips[0])
