"""The hand-made shapes applications log: flat snake_case or camelCase counts, or a nested ``usage``.

This format accepts any JSON object, so it is tried last. See docs/normalisation.md for the rules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from tokentop.core.fields import count, dig, first, flag, millis, money, text
from tokentop.core.formats import Fields

PROMPT = ("prompt_tokens", "promptTokens", "input_tokens", "inputTokens")
COMPLETION = ("completion_tokens", "completionTokens", "output_tokens", "outputTokens")
TOTAL = ("total_tokens", "totalTokens")
CACHED = ("cached_tokens", "cachedTokens", "cache_read_tokens", "cacheReadTokens", "cache_read_input_tokens")
CACHE_WRITE = ("cache_write_tokens", "cacheWriteTokens", "cache_creation_tokens", "cache_creation_input_tokens")
REASONING = ("reasoning_tokens", "reasoningTokens")
USAGE_OBJECTS = ("usage", "tokenUsage", "token_usage", "tokens")

TIME = ("timestamp", "ts", "time", "created_at", "createdAt", "created", "datetime_utc", "date", "startTime")
REQUEST_ID = ("request_id", "requestId", "id", "rid")
USER = ("user", "userId", "user_id", "username", "companyId", "company_id")
TEAM = ("team", "team_id", "teamId")
PROVIDER = ("provider", "llm_provider", "providerName", "vendor")
MODEL = ("model", "model_name", "modelName", "modelUsed", "model_id")
COST = ("cost", "cost_usd", "costUsd", "costUSD", "response_cost", "spend")
LATENCY_MS = ("latency_ms", "latencyMs", "duration_ms", "durationMs", "response_time_ms", "responseTime", "latency")
TOKEN_SOURCE = ("token_source", "tokenSource")
API_KEY_ID = ("api_key_id", "apiKeyId", "key_id", "keyId")
API_KEY = ("api_key", "apiKey")


class AppFormat:
    name = "app"

    def detect(self, record: Mapping[str, Any]) -> bool:
        return True

    def extract(self, record: Mapping[str, Any]) -> Fields:
        usage = _usage_object(record)
        fields = _identity(record)
        fields.update(_counts(usage if usage is not None else record))
        reported = first(record, TOKEN_SOURCE)
        if reported is not None:
            fields["token_source"] = "actual" if reported == "actual" else "estimated"
        return fields


def _usage_object(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for key in USAGE_OBJECTS:
        value = record.get(key)
        if isinstance(value, Mapping):
            return value
    return None


def _counts(usage: Mapping[str, Any]) -> Fields:
    """Token counts from a flat record or a usage object; no counts at all means ``missing``."""
    prompt = count(first(usage, PROMPT), "prompt_tokens")
    completion = count(first(usage, COMPLETION), "completion_tokens")
    total = count(first(usage, TOTAL), "total_tokens")
    if total is None and type(usage.get("tokens")) is int:
        total = count(usage["tokens"], "tokens")  # a bare "tokens: 1500" is a total
    if prompt is None and completion is None and total is None:
        return {}  # no usage at all: the normaliser counts the request as "missing"
    cached = count(first(usage, CACHED), "cached_tokens")
    if cached is None:
        cached = count(dig(usage, "prompt_tokens_details.cached_tokens"), "cached_tokens")
    reasoning = count(first(usage, REASONING), "reasoning_tokens")
    if reasoning is None:
        reasoning = count(dig(usage, "completion_tokens_details.reasoning_tokens"), "reasoning_tokens")
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "cached_tokens": cached or 0,
        "cache_write_tokens": count(first(usage, CACHE_WRITE), "cache_write_tokens") or 0,
        "reasoning_tokens": reasoning or 0,
    }


def _identity(record: Mapping[str, Any]) -> Fields:
    metadata = record.get("metadata")
    if not isinstance(metadata, Mapping):
        metadata = {}
    error = record.get("error")
    return {
        "ts": first(record, TIME),
        "request_id": text(first(record, REQUEST_ID)),
        "user": text(first(record, USER)),
        "api_key_id": text(first(record, API_KEY_ID)) or key_fingerprint(first(record, API_KEY)),
        "team": text(first(record, TEAM)),
        "platform": text(metadata.get("platform") or record.get("platform")),
        "endpoint": text(
            record.get("endpoint") or metadata.get("source") or record.get("source") or record.get("type")
        ),
        "provider": text(first(record, PROVIDER)),
        "model": text(first(record, MODEL)),
        "cost": money(first(record, COST)),
        "latency_ms": millis(first(record, LATENCY_MS)),
        "status": text(record.get("status")),
        "error": text(error.get("message") if isinstance(error, Mapping) else error),
        "cache_hit": flag(first(record, ("cache_hit", "cacheHit", "cached"))),
    }


def key_fingerprint(key: Any) -> str | None:
    """A short, stable fingerprint of an API key, so the key itself is never kept or shown."""
    if not isinstance(key, str) or not key:
        return None
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:12]
