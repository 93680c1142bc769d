from __future__ import annotations

import pytest

from .conftest import COUNTS, fixture_lines, normalise, pick


def test_chat_completions_cached_reasoning_streams_and_missing(per_line):
    events = normalise(fixture_lines("openai_chat.jsonl"), per_line=per_line)
    assert [e.request_id for e in events] == [
        "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", "chatcmpl-o3r", "chatcmpl-stream1", "chatcmpl-stream2",
        "chatcmpl-vllm"]
    cached, reasoning, stream, no_usage_stream, no_usage = events
    assert pick(cached, *COUNTS) == dict(prompt_tokens=2006, completion_tokens=300, total_tokens=2306,
                                         cached_tokens=1920, cache_write_tokens=0, reasoning_tokens=0,
                                         token_source="actual")
    assert cached.provider == "openai" and cached.provider_inferred and cached.format == "openai.chat"
    assert cached.ts == 1741569952
    # gpt-4o: 86 uncached * 2.50 + 1920 * 1.25 + 300 * 10.00 per 1M
    assert cached.cost == pytest.approx((86 * 2.5 + 1920 * 1.25 + 300 * 10.0) / 1e6)
    assert cached.cost_computed
    assert pick(reasoning, "completion_tokens", "reasoning_tokens") == {"completion_tokens": 1500,
                                                                         "reasoning_tokens": 1344}
    assert pick(stream, *COUNTS) == dict(prompt_tokens=19, completion_tokens=10, total_tokens=29, cached_tokens=0,
                                         cache_write_tokens=0, reasoning_tokens=0, token_source="actual")
    # A stream that never sent usage is one request with missing usage, not zero and not four chunks.
    assert no_usage_stream.token_source == "missing" and no_usage_stream.cost is None
    assert no_usage.token_source == "missing" and no_usage.model == "meta-llama/Llama-3.1-8B-Instruct"


def test_compatible_providers_are_recognised_by_their_extras():
    deepseek, groq, openrouter, mistral, azure, gemini = normalise(fixture_lines("openai_compat.jsonl"))
    assert (deepseek.provider, deepseek.prompt_tokens, deepseek.cached_tokens) == ("deepseek", 1500, 1280)
    assert (groq.provider, groq.prompt_tokens, groq.completion_tokens) == ("groq", 18, 434)
    assert groq.latency_ms == pytest.approx(354.0)
    assert (openrouter.provider, openrouter.cost, openrouter.cost_computed) == ("openrouter", 0.00375, False)
    assert openrouter.cached_tokens == 800
    assert (mistral.provider, mistral.provider_inferred, mistral.total_tokens) == ("mistral", True, 50)
    assert azure.provider == "azure"
    # Gemini's OpenAI endpoint leaves thoughts out of completion_tokens but not out of total_tokens.
    assert pick(gemini, "completion_tokens", "reasoning_tokens", "total_tokens", "mismatched") == {
        "completion_tokens": 105, "reasoning_tokens": 100, "total_tokens": 115, "mismatched": False}


def test_responses_api_objects_and_stream_events(per_line):
    plain, stream, failed = normalise(fixture_lines("openai_responses.jsonl"), per_line=per_line)
    assert plain.format == "openai.responses" and plain.user == "user-hash-1"
    assert pick(plain, *COUNTS)["total_tokens"] == 123 and plain.latency_ms == 3000.0
    assert pick(stream, *COUNTS) == dict(prompt_tokens=5000, completion_tokens=900, total_tokens=5900,
                                         cached_tokens=4096, cache_write_tokens=0, reasoning_tokens=640,
                                         token_source="actual")
    assert stream.status == "completed"
    assert failed.token_source == "missing" and failed.error == "The server had an error" and failed.is_error
