"""Observability exports used as reference sources (issue 15, point 8): Langfuse observations (the
public API's ObservationsView / ObservationV2, one per line or a page per line) and Helicone request
rows (HeliconeRequest, as ``@helicone/export`` writes them)."""

from __future__ import annotations

import pytest

from .conftest import COUNTS, fixture_lines, normalise, pick


def test_langfuse_observations_sum_usage_types_as_langfuse_does(per_line):
    skips: list = []
    events = normalise(fixture_lines("langfuse.jsonl"), per_line=per_line, skips=skips)
    assert skips == []
    by_id = {e.request_id: e for e in events}
    # the span is not a request; the observation exported twice (a line and a page) counts once
    assert sorted(by_id) == ["obs-anthropic-1", "obs-embed-1", "obs-error-1", "obs-legacy-1", "obs-openai-1",
                             "obs-v2-1"]
    assert len(events) == 6 and all(e.format == "langfuse" for e in events)
    openai = by_id["obs-openai-1"]  # Langfuse took the cached tokens out of "input": they are put back
    assert pick(openai, *COUNTS) == dict(prompt_tokens=2006, completion_tokens=300, total_tokens=2306,
                                         cached_tokens=1920, cache_write_tokens=0, reasoning_tokens=0,
                                         token_source="actual")
    assert (openai.cost, openai.cost_computed, openai.latency_ms) == (0.005615, False, 2500.0)
    assert (openai.provider, openai.model) == ("openai", "gpt-4o-2024-08-06")
    anthropic = by_id["obs-anthropic-1"]
    assert pick(anthropic, "prompt_tokens", "cached_tokens", "cache_write_tokens", "total_tokens") == {
        "prompt_tokens": 41, "cached_tokens": 20, "cache_write_tokens": 8, "total_tokens": 48}
    v2 = by_id["obs-v2-1"]
    assert (v2.user, v2.model, v2.completion_tokens, v2.reasoning_tokens, v2.cost) == (
        "u-42", "o3-mini", 1600, 1344, 0.00825)
    assert pick(by_id["obs-legacy-1"], "prompt_tokens", "completion_tokens", "total_tokens") == {
        "prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30}
    failed = by_id["obs-error-1"]
    assert failed.token_source == "missing" and failed.error == "Error code: 429 - Rate limit reached"
    assert by_id["obs-embed-1"].prompt_tokens == 512 and by_id["obs-embed-1"].latency_ms == pytest.approx(200.0)


def test_helicone_rows_add_the_parts_of_the_input_back():
    openai, anthropic, failed, cached = normalise(fixture_lines("helicone.jsonl"))
    assert pick(openai, *COUNTS) == dict(prompt_tokens=2006, completion_tokens=300, total_tokens=2306,
                                         cached_tokens=1920, cache_write_tokens=0, reasoning_tokens=0,
                                         token_source="actual")
    assert (openai.provider, openai.user, openai.cost, openai.latency_ms) == ("openai", "alice", 0.005615, 2500.0)
    # Anthropic: Helicone's total_tokens (input + output) leaves the cache out; the canonical total does not
    assert pick(anthropic, "prompt_tokens", "cached_tokens", "cache_write_tokens", "total_tokens", "mismatched") == {
        "prompt_tokens": 41, "cached_tokens": 20, "cache_write_tokens": 8, "total_tokens": 48, "mismatched": False}
    assert anthropic.provider == "anthropic"
    assert failed.token_source == "missing" and failed.error == "HTTP 500" and failed.is_error
    assert cached.cache_hit and not openai.cache_hit and cached.cost == 0.0
    assert all(e.format == "helicone" for e in (openai, anthropic, failed, cached))
