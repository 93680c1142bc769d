"""OTLP/HTTP on the wire: content types, gzip within a cap, protobuf and OTLP/JSON decoding (with the
published ``opentelemetry-proto`` messages), response bodies, and spans / metric points reduced to
the plain values :mod:`tokentop.core.formats.genai` and ``genai_metrics`` read.

OTLP/JSON is proto3 JSON with two deviations that protobuf's own parser gets wrong: trace and span
ids are hex, not base64 (``json_format`` would decode them as base64 -- 32 hex digits become 24 bytes
of garbage, silently), so they are converted first; and unknown fields must be ignored.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Hashable, Iterator, Mapping
from typing import Any, Final

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest, ExportMetricsServiceResponse)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest, ExportTraceServiceResponse)

from tokentop.core.event import SkipRecord
from tokentop.core.formats.genai import Span
from tokentop.core.formats.genai_metrics import USAGE_METRICS, MetricPoint, hashable

PROTOBUF: Final = "protobuf"
JSON: Final = "json"
CONTENT_TYPES: Final = {"application/x-protobuf": PROTOBUF, "application/protobuf": PROTOBUF,
                        "application/json": JSON}
MEDIA: Final = {PROTOBUF: "application/x-protobuf", JSON: "application/json"}
DELTA, CUMULATIVE = 1, 2
_INVALID_ARGUMENT, _RESOURCE_EXHAUSTED = 3, 8


class WireError(Exception):
    """A request refused as a whole: its HTTP status and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def encoding_of(headers: Mapping[str, str]) -> str | None:
    """``protobuf`` or ``json`` from the Content-Type (parameters ignored); None when unsupported."""
    media = headers.get("content-type", "").partition(";")[0].strip().lower()
    return CONTENT_TYPES.get(media)


def plain_body(body: bytes, headers: Mapping[str, str], cap: int) -> bytes:
    """The body without its Content-Encoding; the cap holds after decompression too (a gzip bomb)."""
    coding = headers.get("content-encoding", "").strip().lower()
    if coding in ("", "identity"):
        return body
    if coding not in ("gzip", "x-gzip"):
        raise WireError(415, f"unsupported Content-Encoding {coding[:40]!r} (gzip or none)")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        plain = inflater.decompress(body, cap + 1)  # never more than the cap (+1 to see it passed)
    except zlib.error as exc:
        raise WireError(400, f"body is not valid gzip ({exc})") from None
    if len(plain) > cap or inflater.unconsumed_tail:
        raise WireError(413, f"body over {cap} bytes once decompressed")
    if not inflater.eof:
        raise WireError(400, "gzip body is truncated")
    return plain


def decode(plain: bytes, encoding: str, message: type[Message]) -> Any:
    """The request message, or WireError 400 when the body is not one."""
    request = message()
    if encoding == PROTOBUF:
        try:
            request.ParseFromString(plain)
        except (DecodeError, RuntimeError, ValueError) as exc:  # (upb raises DecodeError; be wide)
            raise WireError(400, f"body is not an OTLP protobuf message ({exc})") from None
        return request
    try:
        document = orjson.loads(plain)
        if not isinstance(document, dict):
            raise WireError(400, "OTLP/JSON body must be an object")
        _hex_ids(document)
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except orjson.JSONDecodeError as exc:
        raise WireError(400, f"body is not JSON ({exc})") from None
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise WireError(400, f"body is not OTLP/JSON ({str(exc)[:200]})") from None
    return request


def decode_traces(plain: bytes, encoding: str) -> ExportTraceServiceRequest:
    return decode(plain, encoding, ExportTraceServiceRequest)  # type: ignore[no-any-return]


def decode_metrics(plain: bytes, encoding: str) -> ExportMetricsServiceRequest:
    return decode(plain, encoding, ExportMetricsServiceRequest)  # type: ignore[no-any-return]


# -- OTLP/JSON ids ------------------------------------------------------------------------------------

_ID_KEYS: Final = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _hex_ids(document: Any) -> None:
    """Rewrite every hex id of an OTLP/JSON document (spans, links, exemplars) as base64, in place,
    for protobuf's JSON parser. Walks the whole document: ids sit at several depths."""
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _ID_KEYS and isinstance(value, str):
                    node[key] = _hex_to_base64(value, key)
                elif isinstance(value, (dict, list)) and key != "attributes":
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, (dict, list)))


def _hex_to_base64(value: str, key: str) -> str:
    try:
        return base64.b64encode(bytes.fromhex(value)).decode("ascii")
    except ValueError:
        raise WireError(400, f"{key} {value[:40]!r} is not hex (OTLP/JSON ids are hex)") from None


# -- responses ---------------------------------------------------------------------------------------

def success(kind: str, encoding: str, rejected: int, message: str) -> bytes:
    """An Export*ServiceResponse: empty when all was accepted, else a partial success."""
    response: Message
    if kind == "traces":
        response = ExportTraceServiceResponse()
        if rejected:
            response.partial_success.rejected_spans = rejected
    else:
        response = ExportMetricsServiceResponse()
        if rejected:
            response.partial_success.rejected_data_points = rejected
    if rejected:
        response.partial_success.error_message = message  # type: ignore[attr-defined]
    return _encode(response, encoding)


def failure(status: int, message: str, encoding: str | None) -> tuple[bytes, str]:
    """The body of a refusal: a ``google.rpc.Status`` in the request's encoding (plain text if unknown)."""
    if encoding is None:
        return (message + "\n").encode(), "text/plain; charset=utf-8"
    code = _RESOURCE_EXHAUSTED if status == 413 else _INVALID_ARGUMENT
    return _encode(status_pb2.Status(code=code, message=message), encoding), MEDIA[encoding]


def _encode(message: Message, encoding: str) -> bytes:
    if encoding == PROTOBUF:
        return message.SerializeToString()
    return orjson.dumps(json_format.MessageToDict(message))


# -- spans and points as plain values ----------------------------------------------------------------

def spans_of(request: ExportTraceServiceRequest) -> Iterator[Span]:
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                status = span.status
                yield Span(attributes(span.attributes), resource, span.trace_id.hex() or None,
                           span.span_id.hex() or None, span.start_time_unix_nano or None,
                           span.end_time_unix_nano or None, status.code, status.message or None, span.kind)


def points_of(request: ExportMetricsServiceRequest) -> Iterator[MetricPoint | SkipRecord]:
    """Each data point of a usage metric as a MetricPoint; each other data point as a SkipRecord."""
    for resource_metrics in request.resource_metrics:
        resource = attributes(resource_metrics.resource.attributes)
        resource_key = hashable(resource)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                yield from _metric_points(metric, resource, resource_key)


def _metric_points(metric: Any, resource: dict[str, Any], resource_key: Hashable
                   ) -> Iterator[MetricPoint | SkipRecord]:
    kind = metric.WhichOneof("data")
    data = getattr(metric, kind) if kind else None
    points = list(data.data_points) if data is not None else []
    if metric.name not in USAGE_METRICS:
        for _ in points:
            yield SkipRecord("no_usage", f"metric {metric.name[:80]!r} is not a usage metric")
        return
    if kind not in ("sum", "histogram", "exponential_histogram"):
        for _ in points:
            yield SkipRecord("wrong_kind", f"{metric.name} is a {kind}, not a sum or histogram")
        return
    temporality = data.aggregation_temporality
    if temporality not in (DELTA, CUMULATIVE):
        for _ in points:
            yield SkipRecord("bad_temporality", f"{metric.name}: aggregation temporality {temporality}")
        return
    for point in points:
        if kind == "sum":
            value, count = (point.as_int if point.WhichOneof("value") == "as_int" else point.as_double), 0
        else:
            value, count = point.sum, point.count
        yield MetricPoint(metric.name, attributes(point.attributes), resource, resource_key,
                          point.start_time_unix_nano, point.time_unix_nano, value, count, temporality == CUMULATIVE)


def attributes(items: Any) -> dict[str, Any]:
    """OTLP KeyValues as a plain dict (arrays as lists; nested key-value lists and bytes are left out).
    The scalar kinds are read inline: this runs for every attribute of every span."""
    out: dict[str, Any] = {}
    for item in items:
        value = item.value
        kind = value.WhichOneof("value")
        if kind == "string_value":
            out[item.key] = value.string_value
        elif kind == "int_value":
            out[item.key] = value.int_value
        elif kind is not None:
            converted = _value(value)
            if converted is not None:
                out[item.key] = converted
    return out


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return None
