"""AWS Bedrock Converse / ConverseStream: ``usage`` (camelCase) with ``metrics.latencyMs``.

``inputTokens`` is only the UNCACHED input: canonical prompt = inputTokens + cacheReadInputTokens +
cacheWriteInputTokens; cached = cacheRead, cache_write = cacheWrite; ``totalTokens`` already includes
the cache tokens. A ConverseStream log carries the same objects in its final ``metadata`` event.
The body names no model or time; a logged ``modelId`` / ``timestamp`` is used when present.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokentop.core.fields import count, dig, millis, text
from tokentop.core.formats import Fields


class BedrockFormat:
    name = "bedrock"

    def detect(self, record: Mapping[str, Any]) -> bool:
        if "stopReason" in record or "metrics" in record:
            usage = record.get("usage")
            return isinstance(usage, Mapping) and "inputTokens" in usage
        event = record.get("metadata")
        return isinstance(event, Mapping) and isinstance(event.get("usage"), Mapping) \
            and "inputTokens" in event["usage"]

    def extract(self, record: Mapping[str, Any]) -> Fields:
        body = record if "usage" in record else record["metadata"]
        usage = body["usage"]
        metrics = body.get("metrics")
        fields: Fields = {
            "ts": record.get("timestamp"),
            "model": text(record.get("modelId")),
            "request_id": text(record.get("requestId")) or text(dig(record, "ResponseMetadata.RequestId")),
            "provider": "bedrock",
            "latency_ms": millis(metrics.get("latencyMs")) if isinstance(metrics, Mapping) else None,
        }
        uncached = count(usage.get("inputTokens"), "inputTokens")
        output = count(usage.get("outputTokens"), "outputTokens")
        if uncached is None and output is None:
            fields["token_source"] = "missing"
            return fields
        read = count(usage.get("cacheReadInputTokens"), "cacheReadInputTokens") or 0
        write = count(usage.get("cacheWriteInputTokens"), "cacheWriteInputTokens") or 0
        fields.update({
            "prompt_tokens": (uncached or 0) + read + write,
            "completion_tokens": output or 0,
            "total_tokens": count(usage.get("totalTokens"), "totalTokens"),
            "cached_tokens": read,
            "cache_write_tokens": write,
        })
        return fields
