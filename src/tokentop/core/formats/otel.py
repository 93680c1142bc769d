"""OpenTelemetry GenAI spans in OTLP/JSON files: one export request (``{"resourceSpans": [...]}``) per
line, as the Collector's file exporter writes them.

One line holds many spans, so ``extract`` returns one part per span: the span's fields, or a
:class:`SkipRecord` saying why it does not count. Which spans count and how their attributes map is
:mod:`tokentop.core.formats.genai` (shared with the OTLP/HTTP receiver): any span carrying usage
counts, model-call spans without usage count as requests with missing usage, the rest are skips
(``no_usage``). A span exported twice (retries) counts once (traceId + spanId).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokentop.core.event import SkipRecord
from tokentop.core.formats.genai import Span, span_fields


class OtelFormat:
    name = "otel"

    def detect(self, record: Mapping[str, Any]) -> bool:
        return "resourceSpans" in record

    def extract(self, record: Mapping[str, Any]) -> list[Any]:
        found: list[Any] = []
        for resource_spans in _list(record.get("resourceSpans")):
            resource_spans = _mapping(resource_spans)
            resource = attributes(_mapping(resource_spans.get("resource")).get("attributes"))
            for scope_spans in _list(resource_spans.get("scopeSpans")):
                for span in _list(_mapping(scope_spans).get("spans")):
                    try:
                        if not isinstance(span, Mapping):
                            raise SkipRecord("wrong_type", f"span is {type(span).__name__}")
                        found.append(span_fields(json_span(span, resource)))
                    except SkipRecord as problem:
                        found.append(problem)
        return found


def json_span(span: Mapping[str, Any], resource: Mapping[str, Any]) -> Span:
    """An OTLP/JSON span as plain values (ids are already hex in OTLP/JSON)."""
    status = _mapping(span.get("status"))
    return Span(
        attrs=attributes(span.get("attributes")), resource=resource,
        trace_id=_hex(span.get("traceId")), span_id=_hex(span.get("spanId")),
        start_ns=_nanos(span.get("startTimeUnixNano")), end_ns=_nanos(span.get("endTimeUnixNano")),
        status_code=_int(status.get("code")) or 0,
        status_message=status.get("message") if isinstance(status.get("message"), str) else None,
        kind=_kind(span.get("kind")),
    )


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


_KINDS = {"SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3, "SPAN_KIND_PRODUCER": 4,
          "SPAN_KIND_CONSUMER": 5}


def _kind(value: Any) -> int:
    """OTLP/JSON writes enums as integers; protobuf's JSON mapping (some writers) as names."""
    return _KINDS.get(value, 0) if isinstance(value, str) and not value.isdigit() else _int(value) or 0


def _hex(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and value else None


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


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
