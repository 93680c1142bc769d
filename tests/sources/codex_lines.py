"""Codex CLI rollout lines (openai/codex ``RolloutLine``: timestamp, type, payload; ``ordinal`` since
0.171), built the way the CLI writes them, for the preset tests."""

from __future__ import annotations

import json
from typing import Any

KEYS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")
RATE_LIMITS = {"primary": {"used_percent": 12.0, "window_minutes": 300, "resets_at": 1763483205},
               "secondary": {"used_percent": 40.0, "window_minutes": 10080, "resets_at": 1763606387}}


def usage(inp: int, cached: int, out: int, reasoning: int, write: int | None = None) -> dict[str, int]:
    u = dict(zip(KEYS, (inp, cached, out, reasoning)))
    u["total_tokens"] = inp + out
    if write is not None:
        u["cache_write_input_tokens"] = write
    return u


def plus(*parts: dict[str, int]) -> dict[str, int]:
    keys = dict.fromkeys(k for p in parts for k in p)
    return {k: sum(p.get(k, 0) for p in parts) for k in keys}


def line(ts: str, kind: str, payload: dict[str, Any], ordinal: int | None = None) -> str:
    record: dict[str, Any] = {"timestamp": ts}
    if ordinal is not None:
        record["ordinal"] = ordinal
    record.update(type=kind, payload=payload)
    return json.dumps(record, separators=(",", ":")) + "\n"


def meta(ts: str, session: str, version: str, forked: str | None = None, **extra: Any) -> str:
    payload = {"id": session, "timestamp": ts, "cwd": "/home/dev/app", "originator": "codex_cli_rs",
               "cli_version": version, "source": "cli", "model_provider": "openai", **extra}
    if forked:
        payload["forked_from_id"] = forked
    return line(ts, "session_meta", payload)


def context(ts: str, model: str) -> str:
    return line(ts, "turn_context", {"cwd": "/home/dev/app", "approval_policy": "on-request",
                                     "sandbox_policy": {"type": "workspace-write", "network_access": False},
                                     "model": model, "effort": "medium", "summary": "auto"})


def token_count(ts: str, total: dict[str, int] | None, last: dict[str, int] | None = None,
                ordinal: int | None = None) -> str:
    info = None if total is None else {"total_token_usage": total, "last_token_usage": last,
                                       "model_context_window": 272000}
    return line(ts, "event_msg", {"type": "token_count", "info": info, "rate_limits": RATE_LIMITS}, ordinal)


def message(ts: str, text: str, ordinal: int | None = None) -> str:
    return line(ts, "response_item", {"type": "message", "role": "assistant",
                                      "content": [{"type": "output_text", "text": text}]}, ordinal)
