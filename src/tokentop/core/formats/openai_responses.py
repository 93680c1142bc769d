"""OpenAI Responses API: a ``response`` object, or the streaming events that carry one.

``input_tokens`` includes ``input_tokens_details.cached_tokens`` (and ``cache_write_tokens``);
``output_tokens`` includes ``output_tokens_details.reasoning_tokens``. In a stream,
``response.created`` / ``response.in_progress`` carry ``usage: null`` and count the request at once
(missing usage); ``response.completed`` / ``incomplete`` / ``failed`` supersede that count with the
final usage. Other stream events (text deltas ...) are absorbed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokentop.core.fields import count, text
from tokentop.core.formats import SUPERSEDE, Fields
from tokentop.core.formats.openai_chat import error_text

FINAL_STATES = frozenset({"completed", "incomplete", "failed", "cancelled"})


class OpenAIResponsesFormat:
    name = "openai.responses"

    def detect(self, record: Mapping[str, Any]) -> bool:
        if record.get("object") == "response":
            return True
        kind = record.get("type")
        return type(kind) is str and kind.startswith("response.")

    def extract(self, record: Mapping[str, Any]) -> Fields | None:
        response = record if record.get("object") == "response" else record.get("response")
        if not isinstance(response, Mapping):
            return None  # a delta event of a stream: no usage, no request of its own
        status = text(response.get("status"))
        created, completed = response.get("created_at"), response.get("completed_at")
        fields: Fields = {
            "ts": created,
            "request_id": text(response.get("id")),
            "model": text(response.get("model")),
            "provider": "openai",
            "user": text(response.get("user")) or text(response.get("safety_identifier")),
            "status": status,
            "error": error_text(response.get("error")),
        }
        if isinstance(created, (int, float)) and isinstance(completed, (int, float)) and completed >= created:
            fields["latency_ms"] = (completed - created) * 1000.0
        usage = response.get("usage")
        fields.update(responses_usage(usage) if isinstance(usage, Mapping) else {"token_source": "missing"})
        if fields["request_id"] is not None:
            final = status in FINAL_STATES or isinstance(usage, Mapping)
            fields[SUPERSEDE] = (("openai.responses", fields["request_id"]), 1 if final else 0)
        return fields


def responses_usage(usage: Mapping[str, Any]) -> Fields:
    prompt = count(usage.get("input_tokens"), "input_tokens")
    completion = count(usage.get("output_tokens"), "output_tokens")
    total = count(usage.get("total_tokens"), "total_tokens")
    if prompt is None and completion is None and total is None:
        return {"token_source": "missing"}
    inp = usage.get("input_tokens_details")
    out = usage.get("output_tokens_details")
    inp = inp if isinstance(inp, Mapping) else {}
    out = out if isinstance(out, Mapping) else {}
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "cached_tokens": count(inp.get("cached_tokens"), "cached_tokens") or 0,
        "cache_write_tokens": count(inp.get("cache_write_tokens"), "cache_write_tokens") or 0,
        "reasoning_tokens": count(out.get("reasoning_tokens"), "reasoning_tokens") or 0,
    }
