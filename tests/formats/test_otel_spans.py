"""OpenTelemetry spans read from files: which spans count, attribute aliases, per-span skips."""

from __future__ import annotations

import orjson
import pytest

from .conftest import normalise


def _value(v):
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    return {"stringValue": v}


def export_line(*spans: dict, resource: dict | None = None) -> bytes:
    """One OTLP/JSON export request, as the Collector's file exporter writes it."""
    out = []
    for i, span in enumerate(spans):
        attrs = span.pop("attrs", {})
        out.append({"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": f"{i + 1:016x}", "name": "s",
                    "kind": span.pop("kind", 3), "startTimeUnixNano": "1741569952000000000",
                    "endTimeUnixNano": "1741569953000000000",
                    "attributes": [{"key": k, "value": _value(v)} for k, v in attrs.items()], **span})
    res = [{"key": k, "value": _value(v)} for k, v in (resource or {}).items()]
    return orjson.dumps({"resourceSpans": [{"resource": {"attributes": res},
                                            "scopeSpans": [{"scope": {"name": "t"}, "spans": out}]}]})


def test_any_span_with_usage_counts_whatever_its_operation():
    skips = []
    events = normalise([export_line(
        {"attrs": {"gen_ai.operation.name": "embedding", "gen_ai.request.model": "text-embedding-3-small",
                   "gen_ai.usage.input_tokens": 12}},  # LiteLLM's spelling
        {"attrs": {"gen_ai.operation.name": "rerank", "gen_ai.usage.input_tokens": 7}},
        {"attrs": {"gen_ai.operation.name": "invoke_agent", "gen_ai.usage.input_tokens": 30}},  # remote: CLIENT
        {"kind": 1, "attrs": {"gen_ai.operation.name": "invoke_agent", "gen_ai.usage.input_tokens": 19}},
        {"attrs": {"gen_ai.operation.name": "execute_tool"}},
        {"attrs": {"http.request.method": "GET"}},
    )], skips=skips)
    assert [(e.endpoint, e.prompt_tokens) for e in events] == [("embedding", 12), ("rerank", 7), ("invoke_agent", 30)]
    assert sorted(s.reason for s in skips) == ["aggregate_span", "no_usage", "no_usage"]


@pytest.mark.parametrize("name", ["gen_ai.usage.cache_write.input_tokens", "gen_ai.usage.cache_creation.input_tokens",
                                  "gen_ai.usage.cache_creation_input_tokens", "gen_ai.usage.input_tokens.cache_write",
                                  "llm.token_count.prompt_details.cache_write"])
def test_cache_write_under_its_new_and_old_names(name):
    (event,) = normalise([export_line({"attrs": {"gen_ai.usage.input_tokens": 1000, name: 600,
                                                 "gen_ai.usage.output_tokens": 5}})])
    assert (event.prompt_tokens, event.cache_write_tokens, event.total_tokens) == (1000, 600, 1005)


def test_openllmetry_and_openinference_aliases():
    openllmetry, openinference = normalise([export_line(
        {"attrs": {"gen_ai.system": "Anthropic", "gen_ai.usage.prompt_tokens": 200, "gen_ai.usage.completion_tokens": 9,
                   "gen_ai.usage.cache_read_input_tokens": 150, "gen_ai.request.model": "claude-sonnet-4"}},
        {"attrs": {"llm.provider": "openai", "llm.model_name": "gpt-4o", "llm.token_count.prompt": 300,
                   "llm.token_count.completion": 20, "llm.token_count.prompt_details.cache_read": 256,
                   "llm.token_count.completion_details.reasoning": 8, "llm.token_count.total": 320}},
    )])
    assert (openllmetry.provider, openllmetry.prompt_tokens, openllmetry.cached_tokens) == ("anthropic", 200, 150)
    assert (openinference.provider, openinference.model, openinference.cached_tokens,
            openinference.reasoning_tokens, openinference.total_tokens) == ("openai", "gpt-4o", 256, 8, 320)


def test_provider_name_wins_over_the_older_system():
    (event,) = normalise([export_line({"attrs": {"gen_ai.provider.name": "aws.bedrock", "gen_ai.system": "openai",
                                                 "gen_ai.usage.input_tokens": 1}})])
    assert event.provider == "bedrock"


def test_user_and_platform_from_span_then_resource():
    on_span, on_resource = normalise([export_line(
        {"attrs": {"gen_ai.usage.input_tokens": 1, "user.id": "span-user"}},
        {"attrs": {"gen_ai.usage.input_tokens": 2}},
        resource={"service.name": "billing", "enduser.id": "res-user"},
    )])
    assert (on_span.user, on_span.platform) == ("span-user", "billing")
    assert (on_resource.user, on_resource.platform) == ("res-user", "billing")


def test_a_bad_span_is_skipped_alone():
    skips = []
    events = normalise([export_line({"attrs": {"gen_ai.usage.input_tokens": -5}},
                                    {"attrs": {"gen_ai.usage.input_tokens": 40}},
                                    {"attrs": {"gen_ai.usage.output_tokens": "lots"}})], skips=skips)
    assert [e.prompt_tokens for e in events] == [40]
    assert sorted(s.reason for s in skips) == ["negative_tokens", "wrong_type"]
