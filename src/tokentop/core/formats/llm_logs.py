"""Rows of simonw/llm's ``logs.db`` (``responses`` before 0.32, ``turns`` after), as one record each.

llm stores what each plugin reports, and the plugins disagree (see usage-formats.md §6):

- OpenAI: ``input_tokens`` includes cached tokens; ``token_details`` may hold
  ``prompt_tokens_details.cached_tokens`` and ``completion_tokens_details.reasoning_tokens``.
- llm-anthropic: ``input_tokens`` EXCLUDES cache reads and writes, which live only in ``token_details``
  (``cache_read_input_tokens``, ``cache_creation_input_tokens``), so prompt = input + both.
- llm-gemini: ``output_tokens`` = candidates + thoughts; ``token_details`` keeps ``thoughtsTokenCount``
  and ``cachedContentTokenCount`` (a subset of the prompt). Older plugin versions stored candidates only,
  which is recognised when ``output_tokens`` equals ``candidatesTokenCount``: thoughts are added.

The convention is chosen from the shape of ``token_details`` first (it names the plugin unambiguously),
then from the provider the model name belongs to. NULL counts (rows logged before llm 0.19, or a
plugin that reports nothing) mean the usage is missing, not zero. The row carries no user.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokentop.core.fields import count, dig, millis, text
from tokentop.core.formats import Fields
from tokentop.core.providers import infer_provider

_ANTHROPIC_KEYS = ("cache_read_input_tokens", "cache_creation_input_tokens", "service_tier", "server_tool_use")
_GEMINI_KEYS = ("candidatesTokenCount", "thoughtsTokenCount", "cachedContentTokenCount", "promptTokensDetails")
_OPENAI_KEYS = ("prompt_tokens_details", "completion_tokens_details")


class LlmLogsFormat:
    name = "llm_logs"

    def detect(self, record: Mapping[str, Any]) -> bool:
        return "datetime_utc" in record and ("input_tokens" in record or "output_tokens" in record)

    def extract(self, record: Mapping[str, Any]) -> Fields:
        model = text(record.get("resolved_model")) or text(record.get("model"))
        fields: Fields = {
            "ts": record.get("datetime_utc"),
            "request_id": text(record.get("id")),
            "model": model,
            "latency_ms": millis(record.get("duration_ms")),
        }
        details = record.get("token_details")
        if not isinstance(details, Mapping):
            details = {}
        fields.update(_counts(record, details, text(record.get("model")) or model or ""))
        return fields


def _convention(details: Mapping[str, Any], model: str) -> str:
    if any(key in details for key in _ANTHROPIC_KEYS):
        return "anthropic"
    if any(key in details for key in _GEMINI_KEYS):
        return "gemini"
    if any(key in details for key in _OPENAI_KEYS):
        return "openai"
    return infer_provider(model) or "openai"


def _counts(record: Mapping[str, Any], details: Mapping[str, Any], model: str) -> Fields:
    prompt = count(record.get("input_tokens"), "input_tokens")
    completion = count(record.get("output_tokens"), "output_tokens")
    if prompt is None and completion is None:
        return {"token_source": "missing"}
    prompt = prompt or 0
    completion = completion or 0
    cached = cache_write = reasoning = 0
    convention = _convention(details, model)
    if convention == "anthropic":
        cached = count(details.get("cache_read_input_tokens"), "cache_read_input_tokens") or 0
        cache_write = count(details.get("cache_creation_input_tokens"), "cache_creation_input_tokens") or 0
        prompt += cached + cache_write
    elif convention == "gemini":
        cached = count(details.get("cachedContentTokenCount"), "cachedContentTokenCount") or 0
        reasoning = count(details.get("thoughtsTokenCount"), "thoughtsTokenCount") or 0
        candidates = count(details.get("candidatesTokenCount"), "candidatesTokenCount")
        if reasoning and candidates is not None and completion == candidates:
            completion += reasoning  # an older llm-gemini stored candidates only
    else:
        cached = count(dig(details, "prompt_tokens_details.cached_tokens"), "cached_tokens") or 0
        reasoning = count(dig(details, "completion_tokens_details.reasoning_tokens"), "reasoning_tokens") or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cached_tokens": cached,
        "cache_write_tokens": cache_write,
        "reasoning_tokens": reasoning,
    }
