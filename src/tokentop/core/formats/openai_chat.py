"""OpenAI Chat Completions and the OpenAI-compatible servers that copy its shape.

``object`` is ``chat.completion`` or ``chat.completion.chunk``. ``prompt_tokens`` already includes
cached tokens and ``completion_tokens`` includes reasoning (OpenAI's convention is tokentop's).
Compatible providers are recognised by their extra keys: DeepSeek (``prompt_cache_hit_tokens``), Groq
(``x_groq``, timings in seconds), OpenRouter (``usage.cost``, ``gen-`` ids), Azure (content filter
results); anything else falls back to inference from the model name.

Streams: every chunk repeats the stream's ``id``. The first chunk is counted at once as a request
with ``missing`` usage, later chunks without usage are absorbed, and the usage chunk (``choices: []``,
or Groq's ``x_groq.usage``) supersedes the first count. A stream that never sends usage therefore
stays counted as one request with missing tokens -- never silently zero, never lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tokentop.core.fields import count, millis, money, text
from tokentop.core.formats import SUPERSEDE, Fields

OBJECTS: Final = frozenset({"chat.completion", "chat.completion.chunk"})


class OpenAIChatFormat:
    name = "openai.chat"

    def detect(self, record: Mapping[str, Any]) -> bool:
        value = record.get("object")
        return type(value) is str and value in OBJECTS  # an unhashable value is simply not ours

    def extract(self, record: Mapping[str, Any]) -> Fields:
        usage = record.get("usage")
        groq = record.get("x_groq")
        if not isinstance(usage, Mapping) and isinstance(groq, Mapping):
            usage = groq.get("usage")
        fields: Fields = {
            "ts": record.get("created"),
            "request_id": text(record.get("id")),
            "model": text(record.get("model")),
            "provider": compat_provider(record, usage),
            "error": error_text(record.get("error")),
        }
        if isinstance(usage, Mapping):
            fields.update(openai_usage(usage))
        else:
            fields["token_source"] = "missing"
        if record.get("object") == "chat.completion.chunk" and fields["request_id"] is not None:
            fields[SUPERSEDE] = (("openai.chat", fields["request_id"]), 0 if usage is None else 1)
        return fields


def openai_usage(usage: Mapping[str, Any]) -> Fields:
    """Counts from an OpenAI-shaped usage object (prompt includes cache, completion includes reasoning)."""
    prompt = count(usage.get("prompt_tokens"), "prompt_tokens")
    completion = count(usage.get("completion_tokens"), "completion_tokens")
    total = count(usage.get("total_tokens"), "total_tokens")
    if prompt is None and completion is None and total is None:
        return {"token_source": "missing"}
    prompt_details = _mapping(usage.get("prompt_tokens_details"))
    completion_details = _mapping(usage.get("completion_tokens_details"))
    cached = count(prompt_details.get("cached_tokens"), "cached_tokens")
    if cached is None:  # DeepSeek: prompt_tokens = hit + miss
        cached = count(usage.get("prompt_cache_hit_tokens"), "prompt_cache_hit_tokens")
    cache_write = count(prompt_details.get("cache_write_tokens"), "cache_write_tokens")
    reasoning = count(completion_details.get("reasoning_tokens"), "reasoning_tokens") or 0
    if (reasoning and prompt is not None and completion is not None and total is not None
            and total == prompt + completion + reasoning):
        completion += reasoning  # Gemini's OpenAI endpoint leaves thoughts out of completion_tokens
    fields: Fields = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "cached_tokens": cached or 0,
        "cache_write_tokens": cache_write or 0,
        "reasoning_tokens": reasoning,
    }
    cost = money(usage.get("cost"))  # OpenRouter: credits = USD
    if cost is not None:
        fields["cost"] = cost
    seconds = usage.get("total_time")  # Groq timings are seconds
    if seconds is not None:
        fields["latency_ms"] = millis(seconds, 1000.0)
    return fields


def compat_provider(record: Mapping[str, Any], usage: Any) -> str | None:
    """The provider an OpenAI-shaped response came from, when its extra keys say so."""
    if "x_groq" in record:
        return "groq"
    if isinstance(usage, Mapping):
        if "prompt_cache_hit_tokens" in usage:
            return "deepseek"
        if "cost" in usage or "is_byok" in usage:
            return "openrouter"
        if "queue_time" in usage:
            return "groq"
    ident = record.get("id")
    if isinstance(ident, str) and ident.startswith("gen-"):
        return "openrouter"
    if "prompt_filter_results" in record:
        return "azure"
    choices = record.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping) \
            and "content_filter_results" in choices[0]:
        return "azure"
    return None


def error_text(error: Any) -> str | None:
    """An error object's message (``{"message": ...}``) or an error string."""
    if isinstance(error, Mapping):
        return text(error.get("message")) or text(error.get("type")) or text(error.get("code"))
    return text(error)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
