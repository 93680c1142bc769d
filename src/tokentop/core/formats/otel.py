"""OpenTelemetry GenAI spans in OTLP/JSON: one export request (``{"resourceSpans": [...]}``) per line.

One line holds many spans, so ``extract`` returns one field dict per counted span. A span counts when
it is a model call: ``gen_ai.operation.name`` is an inference operation (chat, generate_content,
text_completion, embeddings), or it has no operation name but carries ``gen_ai.usage.*`` (older
instrumentations). Agent / tool / workflow spans are NOT counted even when they carry usage (they sum
their children, which are counted). Non-GenAI spans are ignored: they are other telemetry, not
usage records, so they are neither events nor skips.

Per the semantic conventions ``gen_ai.usage.input_tokens`` includes cached input and
``output_tokens`` includes reasoning; cache_read / cache_creation / reasoning attributes are subsets.
An instrumentation that reports Anthropic-style exclusive input is recognised when the cache counts
exceed the input, and corrected. A span exported twice (retries) counts once (traceId + spanId).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tokentop.core.event import SkipRecord
from tokentop.core.fields import count, text
from tokentop.core.formats import SUPERSEDE, Fields

INFERENCE: Final = frozenset({"chat", "generate_content", "text_completion", "embeddings", "completion"})
_USER_KEYS: Final = ("enduser.id", "user.id", "enduser.pseudo.id")
_INPUT: Final = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
_OUTPUT: Final = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
STATUS_ERROR: Final = 2


class OtelFormat:
    name = "otel"

    def detect(self, record: Mapping[str, Any]) -> bool:
        return "resourceSpans" in record

    def extract(self, record: Mapping[str, Any]) -> list[Fields]:
        found: list[Fields] = []
        for resource_spans in _list(record.get("resourceSpans")):
            resource_spans = _mapping(resource_spans)
            resource = attributes(_mapping(resource_spans.get("resource")).get("attributes"))
            for scope_spans in _list(resource_spans.get("scopeSpans")):
                for span in _list(_mapping(scope_spans).get("spans")):
                    if isinstance(span, Mapping):
                        fields = span_fields(span, resource)
                        if fields is not None:
                            found.append(fields)
        return found


def span_fields(span: Mapping[str, Any], resource: Mapping[str, Any]) -> Fields | None:
    attrs = attributes(span.get("attributes"))
    operation = attrs.get("gen_ai.operation.name")
    has_usage = any(k.startswith("gen_ai.usage.") for k in attrs)
    if operation is None and not has_usage:
        return None  # not a GenAI model call
    if operation is not None and operation not in INFERENCE:
        return None  # agent / tool / workflow span: its usage is its children's
    start, end = _nanos(span.get("startTimeUnixNano")), _nanos(span.get("endTimeUnixNano"))
    status = span.get("status")
    failed = isinstance(status, Mapping) and _int(status.get("code")) == STATUS_ERROR
    fields: Fields = {
        "ts": None if start is None else start / 1e9,
        "latency_ms": None if start is None or end is None or end < start else (end - start) / 1e6,
        "request_id": text(attrs.get("gen_ai.response.id")) or text(span.get("spanId")),
        "provider": text(attrs.get("gen_ai.provider.name")) or text(attrs.get("gen_ai.system")),
        "model": text(attrs.get("gen_ai.response.model")) or text(attrs.get("gen_ai.request.model")),
        "user": _first_text(attrs, _USER_KEYS) or _first_text(resource, _USER_KEYS),
        "platform": text(resource.get("service.name")),
        "endpoint": text(operation),
        "error": (text(status.get("message")) or text(attrs.get("error.type")) or "error") if failed else None,
    }
    fields.update(_counts(attrs))
    trace, span_id = span.get("traceId"), span.get("spanId")
    if trace and span_id:
        fields[SUPERSEDE] = (("otel", trace, span_id), 0)
    return fields


def _counts(attrs: Mapping[str, Any]) -> Fields:
    prompt = count(_first(attrs, _INPUT), "gen_ai.usage.input_tokens")
    completion = count(_first(attrs, _OUTPUT), "gen_ai.usage.output_tokens")
    total = count(attrs.get("llm.usage.total_tokens"), "llm.usage.total_tokens")
    if prompt is None and completion is None and total is None:
        return {"token_source": "missing"}
    cached = count(attrs.get("gen_ai.usage.cache_read.input_tokens"), "cache_read.input_tokens") or 0
    write = count(attrs.get("gen_ai.usage.cache_creation.input_tokens"), "cache_creation.input_tokens") or 0
    if prompt is not None and cached + write > prompt:
        prompt += cached + write  # exclusive (Anthropic-style) input: the subsets cannot exceed the whole
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "cached_tokens": cached,
        "cache_write_tokens": write,
        "reasoning_tokens": count(attrs.get("gen_ai.usage.reasoning.output_tokens"), "reasoning.output_tokens") or 0,
    }


def attributes(items: Any) -> dict[str, Any]:
    """OTLP ``[{key, value: {stringValue|intValue|...}}]`` as a plain dict (intValue stays a string)."""
    out: dict[str, Any] = {}
    for item in _list(items):
        if isinstance(item, Mapping) and isinstance(item.get("key"), str):
            out[item["key"]] = any_value(item.get("value"))
    return out


def any_value(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return None
    for kind in ("stringValue", "intValue", "doubleValue", "boolValue"):
        if kind in value:
            return value[kind]
    array = value.get("arrayValue")
    if isinstance(array, Mapping):
        return [any_value(v) for v in _list(array.get("values"))]
    return None


def _nanos(value: Any) -> int | None:
    number = _int(value)
    if number is None or number <= 0:
        return None
    return number


def _int(value: Any) -> int | None:
    if type(value) is int:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is None:
        return None
    raise SkipRecord("wrong_type", f"OTLP integer is {type(value).__name__}")


def _first(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if attrs.get(key) is not None:
            return attrs[key]
    return None


def _first_text(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    return text(_first(attrs, keys))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
