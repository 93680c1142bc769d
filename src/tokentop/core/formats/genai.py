"""OpenTelemetry GenAI span attributes -> UsageEvent fields: the one mapping shared by OTLP/JSON files
(``otel`` format) and the OTLP/HTTP receiver (``otlp`` source kind).

Callers hand over a span already reduced to plain values (attributes as a dict, ids as hex, times in
nanoseconds), so the rules live here once whatever the encoding was.

What counts: **any span that carries usage counts**, whatever its operation name (LiteLLM names its
embedding spans ``embedding``; a remote agent reports usage on its ``invoke_agent`` CLIENT span) --
with one exception: an in-process agent or workflow span (``invoke_agent`` / ``invoke_workflow`` of
kind INTERNAL) sums the usage of the model calls made inside it, which their own spans report, so it
is a skip (``aggregate_span``) rather than a second count of the same tokens. A model-call span
(``gen_ai.operation.name`` is an inference operation) without usage is still a request, counted with
``token_source = "missing"``. Every other span is not usage: :class:`SkipRecord` ``no_usage``.

Counts, per the semantic conventions: input includes cached input (cache read and cache write are
subsets of it); output includes reasoning. Names read, first found wins:

* input: ``gen_ai.usage.input_tokens``, old ``gen_ai.usage.prompt_tokens``, OpenInference
  ``llm.token_count.prompt``;
* output: ``gen_ai.usage.output_tokens``, old ``gen_ai.usage.completion_tokens``,
  ``llm.token_count.completion``;
* cache read: ``gen_ai.usage.cache_read.input_tokens``, OpenLLMetry's flat
  ``gen_ai.usage.cache_read_input_tokens``, ``llm.token_count.prompt_details.cache_read``;
* cache write: ``gen_ai.usage.cache_write.input_tokens`` (the 2026 name), the old
  ``gen_ai.usage.cache_creation.input_tokens``, OpenLLMetry's ``gen_ai.usage.cache_creation_input_tokens``,
  Sentry's ``gen_ai.usage.input_tokens.cache_write``, ``llm.token_count.prompt_details.cache_write``;
* reasoning: ``gen_ai.usage.reasoning.output_tokens``, OpenLIT's ``gen_ai.usage.reasoning_tokens``,
  ``llm.token_count.completion_details.reasoning``;
* total: ``gen_ai.usage.total_tokens``, ``llm.usage.total_tokens``, ``llm.token_count.total``;
* cost (USD): ``gen_ai.usage.cost``.

An instrumentation that reports Anthropic-style exclusive input is recognised when the cache subsets
exceed the input, and corrected. Provider: ``gen_ai.provider.name``, else the older ``gen_ai.system``,
else OpenInference's ``llm.provider`` / ``llm.system``. Model: ``gen_ai.response.model``, else
``gen_ai.request.model``, else ``llm.model_name``. User and platform: the first of the configured
attributes found on the span, else on the resource.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from tokentop.core.event import SkipRecord
from tokentop.core.fields import count, money, text
from tokentop.core.formats import SUPERSEDE, Fields

INFERENCE: Final = frozenset({"chat", "generate_content", "text_completion", "embeddings", "embedding",
                              "completion"})
"""Operations that are one model call: counted even without usage (as a request with missing usage)."""

INPUT: Final = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
OUTPUT: Final = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion")
TOTAL: Final = ("gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total")
CACHE_READ: Final = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
                     "llm.token_count.prompt_details.cache_read")
CACHE_WRITE: Final = ("gen_ai.usage.cache_write.input_tokens", "gen_ai.usage.cache_creation.input_tokens",
                      "gen_ai.usage.cache_creation_input_tokens", "gen_ai.usage.input_tokens.cache_write",
                      "llm.token_count.prompt_details.cache_write")
REASONING: Final = ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens",
                    "llm.token_count.completion_details.reasoning")
PROVIDER: Final = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
MODEL: Final = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
USAGE_KEYS: Final = frozenset(INPUT + OUTPUT + TOTAL)
"""A span carrying any of these carries usage counts."""
AGGREGATES: Final = frozenset({"invoke_agent", "invoke_workflow"})
"""Operations whose INTERNAL spans sum their children's usage."""

STATUS_ERROR: Final = 2
KIND_INTERNAL: Final = 1


@dataclass(frozen=True, slots=True)
class Attribution:
    """Which attributes name the user and the platform (span first, then resource); configurable per
    source (``user_attributes``, ``platform_attributes``)."""

    user: Sequence[str] = ("enduser.id", "user.id", "enduser.pseudo.id", "user.email")
    platform: Sequence[str] = ("service.name",)

    def user_of(self, attrs: Mapping[str, Any], resource: Mapping[str, Any]) -> str | None:
        return first_text(attrs, self.user) or first_text(resource, self.user)

    def platform_of(self, attrs: Mapping[str, Any], resource: Mapping[str, Any]) -> str | None:
        return first_text(attrs, self.platform) or first_text(resource, self.platform)


DEFAULT_ATTRIBUTION: Final = Attribution()


@dataclass(slots=True)
class Span:
    """A span reduced to plain values, whatever its encoding."""

    attrs: Mapping[str, Any]
    resource: Mapping[str, Any]
    trace_id: str | None = None
    """Lower-case hex (OTLP/JSON spells ids in hex; protobuf bytes are converted)."""
    span_id: str | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    status_code: int = 0
    status_message: str | None = None
    kind: int = 0
    """SpanKind: 1 INTERNAL, 2 SERVER, 3 CLIENT, ... (0 unspecified)."""


class _Plan(NamedTuple):
    """For one set of attribute names: the names present for each field, in priority order."""

    has_usage: bool
    input: tuple[str, ...]
    output: tuple[str, ...]
    total: tuple[str, ...]
    cache_read: tuple[str, ...]
    cache_write: tuple[str, ...]
    reasoning: tuple[str, ...]
    provider: tuple[str, ...]
    model: tuple[str, ...]


_PLANS: dict[frozenset[str], _Plan] = {}
_PLAN_CACHE: Final = 1024


def _plan(attrs: Mapping[str, Any]) -> _Plan:
    """Which of the known names a span has. Spans of one instrumentation share their names, so this
    is worked out once per set of names (the receiver's hot path) and looked up after."""
    names = frozenset(attrs)
    plan = _PLANS.get(names)
    if plan is None:
        if len(_PLANS) >= _PLAN_CACHE:
            _PLANS.clear()  # ever-new name sets only clear the cache, never grow it

        def present(keys: Sequence[str]) -> tuple[str, ...]:
            return tuple(k for k in keys if k in names)

        plan = _PLANS[names] = _Plan(not USAGE_KEYS.isdisjoint(names), present(INPUT), present(OUTPUT),
                                     present(TOTAL), present(CACHE_READ), present(CACHE_WRITE),
                                     present(REASONING), present(PROVIDER), present(MODEL))
    return plan


def span_fields(span: Span, attribution: Attribution = DEFAULT_ATTRIBUTION) -> Fields:
    """The UsageEvent fields of one span, or SkipRecord ``no_usage`` (bad counts: their own reasons)."""
    attrs = span.attrs
    plan = _plan(attrs)
    operation = text(attrs.get("gen_ai.operation.name"))
    if not plan.has_usage and operation not in INFERENCE:
        raise SkipRecord("no_usage", f"span with operation {operation!r} carries no usage counts"
                         if operation else "span carries no gen_ai usage counts")
    if operation in AGGREGATES and span.kind == KIND_INTERNAL:
        raise SkipRecord("aggregate_span", f"in-process {operation} span: its usage is its model calls' own spans'")
    start, end = span.start_ns, span.end_ns
    failed = span.status_code == STATUS_ERROR
    cost = attrs.get("gen_ai.usage.cost")
    fields: Fields = {
        "ts": None if not start or start <= 0 else start / 1e9,
        "latency_ms": None if not start or not end or end < start else (end - start) / 1e6,
        "request_id": text(attrs.get("gen_ai.response.id")) or span.span_id,
        "provider": first_text(attrs, plan.provider),
        "model": first_text(attrs, plan.model),
        "user": attribution.user_of(attrs, span.resource),
        "platform": attribution.platform_of(attrs, span.resource),
        "endpoint": operation,
        "error": (span.status_message or text(attrs.get("error.type")) or "error") if failed else None,
        "cost": None if cost is None else money(cost, "gen_ai.usage.cost"),
    }
    fields.update(_counts(attrs, plan))
    if span.trace_id and span.span_id:
        fields[SUPERSEDE] = (("otel", span.trace_id, span.span_id), 0)  # a retried export counts once
    return fields


def usage_counts(attrs: Mapping[str, Any]) -> Fields:
    """Canonical token counts of a span's attributes (``token_source = missing`` when it has none)."""
    return _counts(attrs, _plan(attrs))


def _counts(attrs: Mapping[str, Any], plan: _Plan) -> Fields:
    prompt = count(first(attrs, plan.input), "gen_ai.usage.input_tokens")
    completion = count(first(attrs, plan.output), "gen_ai.usage.output_tokens")
    total = count(first(attrs, plan.total), "gen_ai.usage.total_tokens")
    if prompt is None and completion is None and total is None:
        return {"token_source": "missing"}
    cached = count(first(attrs, plan.cache_read), "gen_ai.usage.cache_read.input_tokens") or 0
    write = count(first(attrs, plan.cache_write), "gen_ai.usage.cache_write.input_tokens") or 0
    if prompt is not None and cached + write > prompt:
        prompt += cached + write  # exclusive (Anthropic-style) input: the subsets cannot exceed the whole
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "cached_tokens": cached,
        "cache_write_tokens": write,
        "reasoning_tokens": count(first(attrs, plan.reasoning), "gen_ai.usage.reasoning.output_tokens") or 0,
    }


def first(attrs: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        value = attrs.get(key)
        if value is not None:
            return value
    return None


def first_text(attrs: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    for key in keys:
        value = text(attrs.get(key))
        if value:
            return value
    return None
