"""Claude Code session transcripts (``~/.claude/projects/**/*.jsonl``).

Only ``assistant`` lines whose ``message`` has a ``usage`` object are requests; every other line
(user prompts, tool results, summaries, system lines) is absorbed. Usage follows Anthropic's
convention (input excludes both cache kinds; see ``anthropic.anthropic_usage``).

One response is written as several lines (one per content block) sharing ``message.id``, and early
lines may carry an intermediate ``output_tokens``; resumed sessions copy earlier turns into new files;
``/btw`` side questions replay a response as a sidechain line with a new ``requestId``. All of these
are the same API response, so the superseding key is ``message.id`` (unique per Anthropic response)
and the rank prefers the larger total, then the non-sidechain line, then the line that has ``speed``
(as ccusage does). Lines without ``message.id`` cannot be joined and each counts.

``line_needle``: a line without the bytes ``"usage"`` cannot be a request, so when this format is
forced (the ``claude`` source) such lines are not even parsed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tokentop.core.fields import flag, money, text
from tokentop.core.formats import SUPERSEDE, Fields
from tokentop.core.formats.anthropic import anthropic_usage

LINE_TYPES: Final = frozenset({"assistant", "user", "summary", "system", "file-history-snapshot"})
SYNTHETIC: Final = "<synthetic>"
"""Model name of the placeholder lines Claude Code writes for failed API calls."""


class ClaudeCodeFormat:
    name = "claude_code"
    line_needle = b'"usage"'

    def detect(self, record: Mapping[str, Any]) -> bool:
        return record.get("type") in LINE_TYPES and (
            "sessionId" in record or "uuid" in record or "leafUuid" in record
        )

    def extract(self, record: Mapping[str, Any]) -> Fields | None:
        if record.get("type") != "assistant":
            return None
        message = record.get("message")
        if not isinstance(message, Mapping):
            return None
        usage = message.get("usage")
        if not isinstance(usage, Mapping):
            return None
        model = text(message.get("model"))
        speed = text(usage.get("speed"))
        if model == SYNTHETIC:
            model = None
        elif model is not None and speed == "fast":
            model += "-fast"  # fast mode is priced apart, so it is its own model (as in ccusage)
        fields: Fields = {
            "ts": record.get("timestamp"),
            "request_id": text(record.get("requestId")) or text(message.get("id")),
            "model": model,
            "provider": provider_of(model),
            "cost": money(record.get("costUSD")),
        }
        fields.update(anthropic_usage(usage))
        if flag(record.get("isApiErrorMessage")) or text(message.get("model")) == SYNTHETIC:
            fields["error"] = _first_text(message.get("content")) or "API error"
            if not fields.get("prompt_tokens") and not fields.get("completion_tokens"):
                fields["token_source"] = "missing"  # placeholder zeros, not a reported usage
        message_id = text(message.get("id"))
        if message_id is not None:
            total = fields.get("prompt_tokens", 0) + fields.get("completion_tokens", 0)
            sidechain = record.get("isSidechain") is True
            rank = total * 4 + (0 if sidechain else 2) + (speed is not None)
            fields[SUPERSEDE] = (message_id, rank)
        return fields


def provider_of(model: str | None) -> str:
    """Claude Code can also reach Claude through Bedrock or Vertex; their model ids say so."""
    if model is not None:
        if "anthropic." in model:
            return "bedrock"
        if "@" in model:
            return "vertex_ai"
    return "anthropic"


def _first_text(content: Any) -> str | None:
    if isinstance(content, list):
        for block in content:
            if isinstance(block, Mapping) and isinstance(block.get("text"), str):
                return block["text"][:300]
    return text(content)[:300] if isinstance(content, str) else None
