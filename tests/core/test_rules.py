"""The normalisation rules every format shares (docs/normalisation.md)."""

from __future__ import annotations

import pytest

from tokentop.core.normalise import NormaliseOptions, Normaliser
from tokentop.core.providers import canonical_provider, infer_provider

from .helpers import normalise


def test_record_without_usage_is_a_missing_request_not_dropped() -> None:
    e = normalise({"user": "u", "model": "gpt-4o"})
    assert e.token_source == "missing"
    assert (e.prompt_tokens, e.completion_tokens, e.total_tokens) == (0, 0, 0)


def test_missing_usage_wins_over_a_reported_token_source() -> None:
    assert normalise({"model": "m", "token_source": "actual"}).token_source == "missing"
    assert normalise({"model": "m"}, default_token_source="estimated").token_source == "missing"


def test_reported_total_is_kept_and_checked() -> None:
    e = normalise({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 30})
    assert e.total_tokens == 30 and e.mismatched
    assert normalise({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 14}).mismatched is False
    assert normalise({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 16}).mismatched is False
    assert normalise({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 17}).mismatched is True
    assert normalise({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 13}).mismatched is True


def test_total_is_the_sum_when_not_reported() -> None:
    e = normalise({"prompt_tokens": 10, "completion_tokens": 5})
    assert e.total_tokens == 15 and not e.mismatched


def test_partial_counts_are_not_a_mismatch() -> None:
    e = normalise({"prompt_tokens": 10, "total_tokens": 99})
    assert (e.prompt_tokens, e.completion_tokens, e.total_tokens, e.mismatched) == (10, 0, 99, False)


@pytest.mark.parametrize("record", [{"prompt_tokens": 1}, {"prompt_tokens": 1, "provider": None},
                                    {"prompt_tokens": 1, "provider": ""}, {"prompt_tokens": 1, "provider": "null"},
                                    {"prompt_tokens": 1, "provider": "  "}])
def test_missing_provider_is_unknown(record: dict) -> None:
    e = normalise(record)
    assert e.provider == "unknown" and e.model == "unknown" and not e.provider_inferred


@pytest.mark.parametrize(("spelling", "canonical"), [
    ("OpenAI", "openai"), ("azure_openai", "azure"), ("Azure.AI.OpenAI", "azure"), ("claude", "anthropic"),
    ("Google", "gemini"), ("vertexai", "vertex_ai"), ("aws.bedrock", "bedrock"), ("MistralAI", "mistral"),
    ("x-ai", "xai"), ("Open-Router", "openrouter"), ("together_ai", "together"), (" Groq ", "groq"),
    ("someNewCloud", "somenewcloud"),
])
def test_provider_spelling(spelling: str, canonical: str) -> None:
    assert canonical_provider(spelling) == canonical
    e = normalise({"prompt_tokens": 1, "provider": spelling, "model": "x"})
    assert e.provider == canonical and not e.provider_inferred


@pytest.mark.parametrize(("model", "provider"), [
    ("gpt-4o", "openai"), ("o3-mini", "openai"), ("text-embedding-3-small", "openai"),
    ("claude-sonnet-4-5", "anthropic"), ("gemini-2.5-pro", "gemini"), ("text-embedding-004", "gemini"),
    ("deepseek-chat", "deepseek"), ("mistral-large", "mistral"), ("command-r", "cohere"), ("grok-3", "xai"),
    ("sonar-pro", "perplexity"), ("openai/gpt-4o", "openai"), ("Anthropic/claude-3", "anthropic"),
    ("x-ai/grok-3-mini", "xai"), ("GPT-4o", "openai"),
])
def test_provider_inferred_from_model(model: str, provider: str) -> None:
    assert infer_provider(model) == provider
    e = normalise({"prompt_tokens": 1, "model": model})
    assert e.provider == provider and e.provider_inferred


@pytest.mark.parametrize("model", ["llama-3.1-8b", "meta-llama/llama-3.3-70b", "qwen3", "gemma-3-27b", "my-model"])
def test_open_weight_or_unknown_models_are_not_guessed(model: str) -> None:
    e = normalise({"prompt_tokens": 1, "model": model})
    assert e.provider == "unknown" and not e.provider_inferred


def test_named_provider_is_not_overridden_by_inference() -> None:
    e = normalise({"prompt_tokens": 1, "model": "gpt-4o", "provider": "azure"})
    assert e.provider == "azure" and not e.provider_inferred


def test_field_map_with_dotted_paths() -> None:
    record = {"when": {"at": "2026-09-21T14:13:20Z"}, "acct": {"id": "cust-9"},
              "llm": {"vendor": "Anthropic", "name": "claude-x"},
              "meter": {"in": 40, "out": 2, "est": "estimated", "price": "0.5"}, "prompt_tokens": 1}
    fields = {"ts": "when.at", "user": "acct.id", "provider": "llm.vendor", "model": "llm.name",
              "prompt_tokens": "meter.in", "completion_tokens": "meter.out", "token_source": "meter.est",
              "cost": "meter.price"}
    e = normalise(record, field_map=fields)
    assert (e.ts, e.user, e.provider, e.model) == (1_790_000_000, "cust-9", "anthropic", "claude-x")
    assert (e.prompt_tokens, e.completion_tokens, e.total_tokens, e.token_source, e.cost) == (
        40, 2, 42, "estimated", 0.5)


def test_field_map_supplies_counts_to_an_otherwise_usage_less_record() -> None:
    e = normalise({"model": "m", "billing": {"tokens_used": 900}}, field_map={"total_tokens": "billing.tokens_used"})
    assert e.token_source == "actual" and e.total_tokens == 900


def test_field_map_path_absent_leaves_the_record_as_it_is() -> None:
    e = normalise({"model": "m"}, field_map={"total_tokens": "billing.tokens_used"})
    assert e.token_source == "missing"


def test_field_map_counts_are_checked_like_any_count() -> None:
    from tokentop.core.event import SkipRecord

    with pytest.raises(SkipRecord) as info:
        normalise({"model": "m", "b": {"t": -5}}, field_map={"total_tokens": "b.t"})
    assert info.value.reason == "negative_tokens"


def test_unknown_field_map_target_is_rejected() -> None:
    with pytest.raises(ValueError, match="nonsense"):
        Normaliser(NormaliseOptions(source="s", field_map={"nonsense": "a.b"}))


def test_events_carry_the_source_name_and_raw_line() -> None:
    line = b'{"prompt_tokens": 3}'
    e = Normaliser(NormaliseOptions(source="gw")).from_line(line, 1.0)
    assert e is not None and e.source == "gw" and e.raw == line
    e = Normaliser(NormaliseOptions(source="gw", keep_raw=False)).from_line(line, 1.0)
    assert e is not None and e.raw is None


def test_cost_function_fills_cost_when_the_record_has_none() -> None:
    n = Normaliser(NormaliseOptions(source="s"), cost_of=lambda e: e.total_tokens / 1000)
    e = n.from_line(b'{"prompt_tokens": 1000}', 1.0)
    assert e is not None and (e.cost, e.cost_computed) == (1.0, True)
    e = n.from_line(b'{"prompt_tokens": 1000, "cost": 0.5}', 1.0)
    assert e is not None and (e.cost, e.cost_computed) == (0.5, False)
    e = n.from_line(b'{"model": "m"}', 1.0)
    assert e is not None and (e.cost, e.cost_computed) == (None, False)
