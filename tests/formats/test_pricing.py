from __future__ import annotations

import pytest

from tokentop.config import ConfigError, parse_config
from tokentop.core.event import UsageEvent
from tokentop.core.pricing import PriceError, shipped_table
from tokentop.sources.options import cost_function


def event(model: str, provider: str = "unknown", **counts: int) -> UsageEvent:
    return UsageEvent(ts=0.0, source="t", model=model, provider=provider, **counts)


@pytest.mark.parametrize(("model", "expected"), [
    ("gpt-4o-2024-08-06", "gpt-4o"), ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"), ("openai/gpt-4o", "gpt-4o"),
    ("claude-sonnet-4-20250514", "claude-sonnet-4"), ("anthropic/claude-sonnet-4", "claude-sonnet-4"),
    ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
    ("bedrock/anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"),
    ("claude-sonnet-4@20250514", "claude-sonnet-4"), ("gemini-2.0-flash-001", "gemini-2.0-flash"),
    ("o3-2025-04-16", "o3"), ("GPT-4O", "gpt-4o"),
])
def test_snapshots_and_prefixes_match_the_base_model(model, expected):
    table = shipped_table()
    assert table.lookup(model) is table.prices[expected]


@pytest.mark.parametrize("model", ["gpt-4o-audio-preview", "gpt-4o-realtime-preview-2024-12-17", "llama3.2",
                                   "my-fine-tune", "unknown", "claude-sonnet-4-fast"])
def test_unknown_models_get_no_cost(model):
    assert shipped_table().cost(event(model, prompt_tokens=1000, completion_tokens=10)) is None


def test_cost_splits_uncached_cached_and_written_input():
    cost = shipped_table().cost(event("claude-sonnet-4", prompt_tokens=10_000, cached_tokens=6_000,
                                      cache_write_tokens=1_000, completion_tokens=2_000, reasoning_tokens=500))
    assert cost == pytest.approx((3_000 * 3.0 + 6_000 * 0.30 + 1_000 * 3.75 + 2_000 * 15.0) / 1e6)


def test_missing_usage_has_no_cost():
    assert shipped_table().cost(event("gpt-4o", token_source="missing")) is None


def test_table_is_dated():
    assert shipped_table().as_of == "2025-10-01"


def test_config_overrides_replace_and_add_models():
    config = parse_config({"prices": {"gpt-4o": {"input": 1.0, "output": 2.0},
                                      "ollama/llama3.2": {"input": 0, "output": 0},
                                      "house-model": {"input": 4.0, "output": 8.0, "cached": 0.4}}})
    cost = cost_function(config)
    assert cost(event("gpt-4o-2024-08-06", prompt_tokens=1_000_000)) == pytest.approx(1.0)
    assert cost(event("llama3.2", provider="ollama", completion_tokens=500)) == 0.0
    assert cost(event("llama3.2", provider="groq", completion_tokens=500)) is None
    assert cost(event("house-model", prompt_tokens=2_000_000, cached_tokens=1_000_000)) == pytest.approx(4.4)


@pytest.mark.parametrize(("spec", "key"), [
    ({"m": {"input": 1.0}}, "prices.m.output"),
    ({"m": {"input": -1, "output": 1}}, "prices.m.input"),
    ({"m": {"input": 1, "output": 1, "batch": 1}}, "prices.m.batch"),
    ({"m": 3}, "prices.m"),
])
def test_bad_overrides_name_the_key(spec, key):
    with pytest.raises(ConfigError) as info:
        cost_function(parse_config({"prices": spec}))
    assert info.value.key == key


def test_price_error_is_a_value_error():
    assert issubclass(PriceError, ValueError)
