"""Google Gemini / Vertex ``GenerateContentResponse`` with ``usageMetadata`` (REST camelCase, or the
Python SDK's snake_case dump).

``promptTokenCount`` includes ``cachedContentTokenCount``; ``candidatesTokenCount`` EXCLUDES
``thoughtsTokenCount``; ``toolUsePromptTokenCount`` is input fed back from tools. Canonical: prompt =
prompt + toolUsePrompt, cached = cachedContent, completion = candidates + thoughts, reasoning =
thoughts, total = totalTokenCount. Stream chunks carry CUMULATIVE usage and share ``responseId``:
the chunk with the largest total supersedes the earlier ones (without a ``responseId`` chunks
cannot be joined and each counts).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokentop.core.fields import count, text
from tokentop.core.formats import SUPERSEDE, Fields

_CAMEL = ("usageMetadata", "promptTokenCount", "toolUsePromptTokenCount", "cachedContentTokenCount",
          "candidatesTokenCount", "thoughtsTokenCount", "totalTokenCount", "modelVersion", "responseId",
          "createTime", "promptFeedback", "blockReason", "finishReason")
_SNAKE = ("usage_metadata", "prompt_token_count", "tool_use_prompt_token_count", "cached_content_token_count",
          "candidates_token_count", "thoughts_token_count", "total_token_count", "model_version", "response_id",
          "create_time", "prompt_feedback", "block_reason", "finish_reason")


class GeminiFormat:
    name = "gemini"

    def detect(self, record: Mapping[str, Any]) -> bool:
        return ("usageMetadata" in record or "usage_metadata" in record
                or ("candidates" in record and ("modelVersion" in record or "responseId" in record)))

    def extract(self, record: Mapping[str, Any]) -> Fields:
        (usage_key, prompt_k, tool_k, cached_k, cand_k, thoughts_k, total_k, model_k, id_k, time_k,
         feedback_k, block_k, finish_k) = _SNAKE if "usage_metadata" in record or "model_version" in record else _CAMEL
        fields: Fields = {
            "ts": record.get(time_k),
            "request_id": text(record.get(id_k)),
            "model": text(record.get(model_k)),
            "provider": "gemini",
        }
        feedback = record.get(feedback_k)
        if isinstance(feedback, Mapping) and feedback.get(block_k):
            fields["error"] = f"prompt blocked: {text(feedback.get(block_k))}"
        finish = _finish_reason(record.get("candidates"), finish_k)
        usage = record.get(usage_key)
        if not isinstance(usage, Mapping):
            fields["token_source"] = "missing"
            rank = int(finish is not None)
        else:
            total = count(usage.get(total_k), total_k)
            fields.update(gemini_counts(
                count(usage.get(prompt_k), prompt_k), count(usage.get(cand_k), cand_k),
                count(usage.get(cached_k), cached_k), count(usage.get(thoughts_k), thoughts_k),
                count(usage.get(tool_k), tool_k), total))
            rank = ((total or 0) + 1) * 2 + (finish is not None)  # larger cumulative total wins
        if fields["request_id"] is not None:
            fields[SUPERSEDE] = (("gemini", fields["request_id"]), rank)
        return fields


def gemini_counts(prompt: int | None, candidates: int | None, cached: int | None, thoughts: int | None,
                  tool: int | None, total: int | None) -> Fields:
    """Canonical counts from Gemini's usage numbers (``usageMetadata``, or Gemini CLI's ``tokens``):
    candidates exclude thoughts, tool-use prompt tokens are input."""
    fields: Fields = {
        "prompt_tokens": (prompt or 0) + (tool or 0),
        "completion_tokens": (candidates or 0) + (thoughts or 0),
        "total_tokens": total,
        "cached_tokens": cached or 0,
        "reasoning_tokens": thoughts or 0,
    }
    if prompt is None and candidates is None and total is None:
        fields["token_source"] = "missing"
    return fields


def _finish_reason(candidates: Any, key: str) -> str | None:
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], Mapping):
        return text(candidates[0].get(key))
    return None
