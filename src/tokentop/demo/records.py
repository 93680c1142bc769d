"""What each of the gateway's writers makes of a request, with the scripted faults applied.

The gateway log gets every request, in one of three hand-made shapes depending on which part of the
gateway served it (as real applications mix them): the API path logs flat snake_case (seed 003), the
webhook / widget workers log camelCase with a ``metadata`` object (seed 004), the playground logs the
provider's nested ``usage`` object (seed 001). The ledger gets seed 003's ``usage_logs`` row, except
for the requests a fault keeps out of it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Final

import orjson

from tokentop.demo.traffic import Request

LEDGER_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS usage_logs (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    user_id TEXT,
    provider TEXT,
    model TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    token_source TEXT NOT NULL DEFAULT 'actual',
    cost REAL,
    latency_ms REAL,
    status TEXT,
    metadata TEXT
);
CREATE INDEX IF NOT EXISTS usage_logs_created_at ON usage_logs (created_at);
"""
LEDGER_COLUMNS: Final = ("created_at", "user_id", "provider", "model", "prompt_tokens", "completion_tokens",
                         "total_tokens", "token_source", "cost", "latency_ms", "status", "metadata")
LEDGER_INSERT: Final = (
    f"INSERT INTO usage_logs ({', '.join(LEDGER_COLUMNS)}) VALUES ({', '.join('?' * len(LEDGER_COLUMNS))})"
)
LEDGER_DROPS: Final = frozenset({"untracked_provider", "logging_stopped"})
"""Faults that keep a request out of the ledger."""
COUNTER_DROPS: Final = frozenset({"untracked_provider"})
"""Faults that keep a request off the usage endpoint's counters (seed 000)."""


def iso_ms(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log_shape(r: Request) -> str:
    if r.source == "api":
        return "snake"
    if r.platform in ("instagram", "telegram", "facebook", "widget"):
        return "camel"
    return "nested"


def log_record(r: Request) -> dict[str, Any]:
    """The gateway log's record of a request (every request is logged)."""
    return _SHAPES[log_shape(r)](r)


def log_line(r: Request) -> bytes:
    return orjson.dumps(log_record(r)) + b"\n"


def _snake(r: Request) -> dict[str, Any]:
    return {
        "timestamp": iso_ms(r.ts), "request_id": r.request_id, "user_id": r.user, "provider": r.provider,
        "model": r.model, "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
        "total_tokens": r.total_tokens, "cache_read_tokens": r.cached_tokens,
        "cache_write_tokens": r.cache_write_tokens, "reasoning_tokens": r.reasoning_tokens,
        "token_source": r.token_source, "cost_usd": r.cost, "latency_ms": r.latency_ms, "status": r.status,
        "error": r.error, "stream": r.stream, "cache_hit": r.cache_hit, "platform": r.platform,
        "source": r.source,
    }


def _camel(r: Request) -> dict[str, Any]:
    return {
        "createdAt": iso_ms(r.ts), "requestId": r.request_id, "userId": r.user,
        "type": "AUTO_RESPONSE", "provider": r.provider.upper(), "model": r.model,
        "inputTokens": r.prompt_tokens, "outputTokens": r.completion_tokens, "totalTokens": r.total_tokens,
        "cachedTokens": r.cached_tokens, "reasoningTokens": r.reasoning_tokens, "tokenSource": r.token_source,
        "costUsd": r.cost, "latencyMs": r.latency_ms, "status": r.status, "cacheHit": r.cache_hit,
        **({"error": r.error} if r.error else {}),
        "metadata": {"platform": r.platform, "source": r.source, "isAutoBot": r.source == "webhook",
                     "conversationId": f"conv_{r.request_id[-6:]}"},
    }


def _nested(r: Request) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens, "total_tokens": r.total_tokens,
        "prompt_tokens_details": {"cached_tokens": r.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": r.reasoning_tokens},
    }
    if r.cache_write_tokens:
        usage["cache_write_tokens"] = r.cache_write_tokens
    return {
        "ts": round(r.ts, 3), "id": r.request_id, "user": r.user, "provider": r.provider, "model": r.model,
        "stream": r.stream, "usage": usage, "token_source": r.token_source, "cost": r.cost,
        "latency_ms": r.latency_ms, "status": r.status, "cache_hit": r.cache_hit, "platform": r.platform,
        "source": r.source, **({"error": {"message": r.error}} if r.error else {}),
    }


_SHAPES = {"snake": _snake, "camel": _camel, "nested": _nested}


def ledger_row(r: Request) -> tuple[Any, ...] | None:
    """The ``usage_logs`` row for a request, or None when a fault keeps it out of the ledger."""
    if r.faults & LEDGER_DROPS:
        return None
    provider = None if "null_provider" in r.faults else r.provider
    metadata = {
        "request_id": r.request_id, "platform": r.platform, "source": r.source, "stream": r.stream,
        "cache_hit": r.cache_hit, "cached_tokens": r.cached_tokens, "cache_write_tokens": r.cache_write_tokens,
        "reasoning_tokens": r.reasoning_tokens, **({"error": r.error} if r.error else {}),
    }
    return (iso_ms(r.ts), r.user, provider, r.model, r.prompt_tokens, r.completion_tokens, r.total_tokens,
            r.token_source, r.cost, r.latency_ms, r.status, orjson.dumps(metadata).decode())


def counted(r: Request) -> bool:
    """Whether the usage endpoint's counters are incremented for this request."""
    return not r.faults & COUNTER_DROPS
