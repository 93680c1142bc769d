"""Shapes an application logs around a provider's response or usage object (issue 15, points 1-3, 6).

The records are the providers' documented objects (OpenAI's chat.completion and Responses ``usage``
from the API reference, Anthropic's ``usage`` from the Messages API reference) with the fields a
gateway writes beside them. Each is read both ways a source reads a line: the fast paths (the lane
learns a shape once the typed path has read it, so each line is fed three times) and the general path.
"""

from __future__ import annotations

import orjson
import pytest

from tokentop.core.event import event_to_dict
from tokentop.core.normalise import NormaliseOptions, Normaliser

from .conftest import COUNTS, normalise, pick

READ_TIME = 1_800_000_000.0

# OpenAI API reference, "The chat completion object", with what a gateway logs beside it.
CHAT_WITH_APP_FIELDS = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion", "created": None,
    "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1117, "completion_tokens": 46, "total_tokens": 1163,
              "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}},
    "system_fingerprint": "fp_eb9dce56a8",
    "user": "alice", "team": "search", "provider": "openai", "timestamp": "2026-11-02T08:00:00.044Z",
    "token_source": "actual", "cost_usd": 0.0042, "latency_ms": 812, "request_id": "gw-req-1",
    "api_key_id": "key-7", "metadata": {"platform": "ios", "source": "chat"},
}
# Anthropic Messages API reference: Usage (input excludes both cache kinds).
ANTHROPIC_USAGE = {"model": "claude-sonnet-4-5", "user": "bob",
                   "usage": {"input_tokens": 13, "cache_read_input_tokens": 20, "cache_creation_input_tokens": 8,
                             "output_tokens": 7}}
# OpenAI reasoning guide, a Responses API ``usage`` object logged on its own.
RESPONSES_USAGE = {"model": "o4-mini", "user": "carol",
                   "usage": {"input_tokens": 75, "input_tokens_details": {"cached_tokens": 32},
                             "output_tokens": 1186, "output_tokens_details": {"reasoning_tokens": 1024},
                             "total_tokens": 1261}}


def both_ways(record: dict) -> list[dict]:
    """The event's fields through the line decoder (fast paths, three lines) and through the general path."""
    lines = [orjson.dumps({**record, "n": n}) for n in range(3)]
    fast = [event_to_dict(e) for e in normalise(lines)]
    general = Normaliser(NormaliseOptions(source="t")).from_record({**record, "n": 0}, READ_TIME)
    assert general is not None
    out = [*fast, event_to_dict(general)]
    for data in out:
        data.pop("source"), data.pop("cost"), data.pop("cost_computed")
    assert all(data == out[-1] for data in out), "the fast paths and the general path disagree"
    return out


def test_app_fields_beside_a_provider_response_are_read_with_the_app_rules():
    record = dict(CHAT_WITH_APP_FIELDS)
    record.pop("created")  # the response's own time is absent: the gateway's timestamp is the time
    event = Normaliser(NormaliseOptions(source="gw")).from_record(record, READ_TIME)
    assert event is not None and event.format == "openai.chat"
    assert (event.user, event.team, event.platform, event.endpoint) == ("alice", "search", "ios", "chat")
    assert (event.provider, event.provider_inferred) == ("openai", False)
    assert event.ts == pytest.approx(1793606400.044) and not event.time_inferred
    assert (event.cost, event.cost_computed, event.latency_ms) == (0.0042, False, 812.0)
    assert (event.api_key_id, event.token_source) == ("key-7", "actual")
    # the format's own fields stay the format's: the response id, its counts, its model
    assert event.request_id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
    assert pick(event, "prompt_tokens", "cached_tokens", "total_tokens") == {
        "prompt_tokens": 1117, "cached_tokens": 1024, "total_tokens": 1163}


def test_the_formats_own_time_and_provider_win_over_the_app_fields():
    record = {**CHAT_WITH_APP_FIELDS, "created": 1741569952, "provider": "OpenRouter"}
    record["usage"] = {**record["usage"], "cost": 0.5}  # an OpenRouter usage.cost: the format names it
    event = Normaliser(NormaliseOptions(source="gw")).from_record(record, READ_TIME)
    assert event is not None
    assert event.ts == 1741569952 and event.provider == "openrouter" and event.cost == 0.5


def test_type_is_not_an_endpoint_beside_an_anthropic_message():
    message = {"id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "type": "message", "role": "assistant",
               "model": "claude-sonnet-4-5", "content": [{"type": "text", "text": "Hi"}],
               "stop_reason": "end_turn", "usage": {"input_tokens": 2095, "output_tokens": 503},
               "user": "dana", "ts": 1793606400}
    event = Normaliser(NormaliseOptions(source="gw")).from_record(message, READ_TIME)
    assert event is not None and event.format == "anthropic"
    assert (event.user, event.endpoint, event.ts) == ("dana", None, 1793606400)


def test_a_bad_app_field_beside_a_response_is_skipped_like_an_app_record():
    from tokentop.core.event import SkipRecord

    with pytest.raises(SkipRecord, match="negative_cost"):
        Normaliser(NormaliseOptions(source="gw")).from_record({**CHAT_WITH_APP_FIELDS, "cost_usd": -1}, READ_TIME)


def test_an_anthropic_usage_object_on_its_own_includes_the_cache_in_the_prompt():
    for data in both_ways(ANTHROPIC_USAGE):
        assert {k: data[k] for k in COUNTS} == dict(
            prompt_tokens=41, completion_tokens=7, total_tokens=48, cached_tokens=20, cache_write_tokens=8,
            reasoning_tokens=0, token_source="actual")
        assert data["format"] == "app" and data["user"] == "bob" and not data["mismatched"]


def test_anthropic_usage_flat_and_with_the_ttl_split_follow_the_same_rule():
    flat = {"model": "claude-sonnet-4-5", **ANTHROPIC_USAGE["usage"]}
    split = {"model": "claude-sonnet-4-5",
             "usage": {"input_tokens": 13, "cache_read_input_tokens": 20, "output_tokens": 7,
                       "cache_creation": {"ephemeral_5m_input_tokens": 5, "ephemeral_1h_input_tokens": 3}}}
    for record in (flat, split):
        data = both_ways(record)[0]
        assert (data["prompt_tokens"], data["cached_tokens"], data["cache_write_tokens"]) == (41, 20, 8)


def test_litellm_style_usage_with_cache_counts_keeps_its_inclusive_prompt():
    # prompt_tokens already includes the cache (LiteLLM's Usage): not Anthropic's convention.
    record = {"model": "claude-sonnet-4-5", "usage": {"prompt_tokens": 41, "completion_tokens": 7,
                                                      "cache_read_input_tokens": 20,
                                                      "cache_creation_input_tokens": 8}}
    data = both_ways(record)[0]
    assert (data["prompt_tokens"], data["cached_tokens"], data["cache_write_tokens"]) == (41, 20, 8)


def test_a_responses_usage_object_on_its_own_keeps_cached_and_reasoning():
    for data in both_ways(RESPONSES_USAGE):
        assert {k: data[k] for k in COUNTS} == dict(
            prompt_tokens=75, completion_tokens=1186, total_tokens=1261, cached_tokens=32, cache_write_tokens=0,
            reasoning_tokens=1024, token_source="actual")


def test_responses_details_flat_and_the_2026_cache_write_detail():
    flat = {"model": "gpt-5", **RESPONSES_USAGE["usage"]}
    data = both_ways(flat)[0]
    assert (data["cached_tokens"], data["reasoning_tokens"]) == (32, 1024)
    written = {"model": "gpt-5", "usage": {**RESPONSES_USAGE["usage"],
                                           "input_tokens_details": {"cached_tokens": 32, "cache_write_tokens": 40}}}
    assert both_ways(written)[0]["cache_write_tokens"] == 40


@pytest.mark.parametrize(("model", "provider", "shown"), [
    ("anthropic/claude-sonnet-4-5", None, "claude-sonnet-4-5"),  # simonw/llm's llm-anthropic ids
    ("openai/gpt-4o", "openai", "gpt-4o"),
    ("openrouter/anthropic/claude-3.5-sonnet", None, "anthropic/claude-3.5-sonnet"),
    ("anthropic/claude-3.5-sonnet", "openrouter", "anthropic/claude-3.5-sonnet"),  # another party's head stays
    ("meta-llama/Llama-3.1-8B-Instruct", None, "meta-llama/Llama-3.1-8B-Instruct"),
])
def test_a_model_id_that_carries_its_provider_is_not_doubled(model, provider, shown):
    record = {"model": model, "prompt_tokens": 3, "completion_tokens": 1,
              **({"provider": provider} if provider else {})}
    data = both_ways(record)[0]
    assert data["model"] == shown
    assert f"{data['provider']}/{data['model']}".count(data["provider"] + "/") == 1 or data["provider"] == "unknown"
