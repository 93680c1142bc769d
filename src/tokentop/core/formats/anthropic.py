"""Anthropic Messages: a ``message`` object, or the stream events ``message_start`` / ``message_delta``.

Anthropic's ``input_tokens`` EXCLUDES cache reads and cache writes, so the canonical prompt is
``input_tokens + cache_creation_input_tokens + cache_read_input_tokens``; cached = cache reads,
cache_write = cache creation; ``output_tokens`` already includes thinking.

Streams: ``message_start`` counts the request at once (input side, a tiny output count, status
``incomplete``); each ``message_delta`` carries CUMULATIVE usage (no id: it belongs to the stream
begun by the last ``message_start``) and supersedes the previous count -- the last one wins, nothing is
summed. A stream cut off after ``message_start`` stays counted as ``incomplete``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tokentop.core.fields import count, text
from tokentop.core.formats import SUPERSEDE, Fields
from tokentop.core.formats.openai_chat import error_text

TYPES: Final = frozenset({
    "message", "message_start", "message_delta", "message_stop",
    "content_block_start", "content_block_delta", "content_block_stop", "ping",
})


class AnthropicFormat:
    name = "anthropic"

    def __init__(self) -> None:
        self._stream: dict[str, Any] | None = None
        """The stream begun by the last message_start: id, model, merged usage, delta count."""

    def detect(self, record: Mapping[str, Any]) -> bool:
        value = record.get("type")
        return type(value) is str and value in TYPES

    def extract(self, record: Mapping[str, Any]) -> Fields | None:
        kind = record["type"]
        if kind == "message":
            return _message_fields(record, record.get("usage"))
        if kind == "message_start":
            message = record.get("message")
            if not isinstance(message, Mapping):
                return None
            usage = message.get("usage")
            self._stream = {"message": message, "usage": dict(usage) if isinstance(usage, Mapping) else {}, "n": 0}
            fields = _message_fields(message, self._stream["usage"] or None)
            fields["status"] = "incomplete"
            return self._supersede(fields)
        if kind == "message_delta":
            return self._delta(record)
        if kind == "message_stop":
            self._stream = None
        return None

    def _delta(self, record: Mapping[str, Any]) -> Fields | None:
        usage = record.get("usage")
        if not isinstance(usage, Mapping):
            return None
        stream = self._stream or {"message": {}, "usage": {}, "n": 0}
        # Cumulative: a value present in the delta replaces the start's (some gateways send 0 at start).
        stream["usage"].update({k: v for k, v in usage.items() if v is not None})
        stream["n"] += 1
        fields = _message_fields(stream["message"], stream["usage"])
        delta = record.get("delta")
        if isinstance(delta, Mapping) and delta.get("stop_reason") == "refusal":
            fields["status"] = "refusal"
        return self._supersede(fields) if self._stream is not None else fields

    def _supersede(self, fields: Fields) -> Fields:
        if self._stream is not None and fields["request_id"] is not None:
            fields[SUPERSEDE] = (("anthropic", fields["request_id"]), self._stream["n"])
        return fields


def _message_fields(message: Mapping[str, Any], usage: Any) -> Fields:
    fields: Fields = {
        "request_id": text(message.get("id")),
        "model": text(message.get("model")),
        "provider": "anthropic",
        "error": error_text(message.get("error")),
    }
    fields.update(anthropic_usage(usage) if isinstance(usage, Mapping) else {"token_source": "missing"})
    return fields


ANTHROPIC_CACHE_KEYS: Final = ("cache_read_input_tokens", "cache_creation_input_tokens", "cache_creation")
"""Keys only an Anthropic usage object has (the cache counts and the TTL split of the writes)."""


def is_anthropic_usage(usage: Mapping[str, Any]) -> bool:
    """An Anthropic ``usage`` object logged on its own (by an application, not in a Message): its
    ``input_tokens`` beside Anthropic's cache counts, and no OpenAI-style ``prompt_tokens`` (LiteLLM's
    usage objects carry the cache counts too, but their ``prompt_tokens`` already includes them)."""
    return (usage.get("input_tokens") is not None and usage.get("prompt_tokens") is None
            and usage.get("promptTokens") is None
            and any(usage.get(key) is not None for key in ANTHROPIC_CACHE_KEYS))


def anthropic_usage(usage: Mapping[str, Any]) -> Fields:
    """Canonical counts from an Anthropic usage object (input excludes both cache kinds)."""
    uncached = count(usage.get("input_tokens"), "input_tokens")
    output = count(usage.get("output_tokens"), "output_tokens")
    if uncached is None and output is None:
        return {"token_source": "missing"}
    read = count(usage.get("cache_read_input_tokens"), "cache_read_input_tokens") or 0
    write = cache_creation(usage)
    details = usage.get("output_tokens_details")
    thinking = count(details.get("thinking_tokens"), "thinking_tokens") if isinstance(details, Mapping) else None
    return {
        "prompt_tokens": (uncached or 0) + read + write,
        "completion_tokens": output or 0,
        "cached_tokens": read,
        "cache_write_tokens": write,
        "reasoning_tokens": thinking or 0,
    }


def cache_creation(usage: Mapping[str, Any]) -> int:
    """Cache-write tokens: the flat count, else the sum of the TTL split (they agree when both exist)."""
    flat = count(usage.get("cache_creation_input_tokens"), "cache_creation_input_tokens")
    if flat is not None:
        return flat
    split = usage.get("cache_creation")
    if isinstance(split, Mapping):
        return sum(count(v, f"cache_creation.{k}") or 0 for k, v in split.items() if k.endswith("_input_tokens"))
    return 0
