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

from collections.abc import Callable, Mapping
from typing import Any, Final

import msgspec

from tokentop.core.event import SkipRecord
from tokentop.core.fields import flag, money, text
from tokentop.core.formats import SUPERSEDE, Fields
from tokentop.core.formats.anthropic import anthropic_usage

LINE_TYPES: Final = frozenset({"assistant", "user", "summary", "system", "file-history-snapshot"})
SYNTHETIC: Final = "<synthetic>"
"""Model name of the placeholder lines Claude Code writes for failed API calls."""


class _Message(msgspec.Struct):
    id: Any = None
    model: Any = None
    usage: Any = None
    content: msgspec.Raw = msgspec.Raw(b"null")  # only read for API-error lines: not materialised


class _Line(msgspec.Struct):
    """The few fields of a transcript line tokentop reads; the rest (content, cwd ...) is skipped."""

    type: Any = None
    message: _Message | None = None
    timestamp: Any = None
    requestId: Any = None  # noqa: N815 - the transcript's own spelling
    isSidechain: Any = None  # noqa: N815
    isApiErrorMessage: Any = None  # noqa: N815
    costUSD: Any = None  # noqa: N815


_DECODER = msgspec.json.Decoder(_Line)


class ClaudeCodeFormat:
    name = "claude_code"
    line_needle = b'"usage"'

    def detect(self, record: Mapping[str, Any]) -> bool:
        return record.get("type") in LINE_TYPES and (
            "sessionId" in record or "uuid" in record or "leafUuid" in record
        )

    def extract(self, record: Mapping[str, Any]) -> Fields | None:
        message = record.get("message")
        if record.get("type") != "assistant" or not isinstance(message, Mapping):
            return None
        return _fields(record.get("timestamp"), record.get("requestId"), record.get("isSidechain"),
                       record.get("isApiErrorMessage"), record.get("costUSD"), message.get("id"),
                       message.get("model"), message.get("usage"), lambda: message.get("content"))

    def extract_line(self, line: bytes) -> Fields | None:
        """``extract`` straight from the line's bytes when this format is forced: the transcript's
        large content is skipped by the decoder instead of being built into Python objects."""
        try:
            rec = _DECODER.decode(line)
        except msgspec.ValidationError:
            return None  # not a transcript line of the expected shape (message is not an object ...)
        except msgspec.DecodeError as exc:
            raise SkipRecord("invalid_json", str(exc)) from None
        message = rec.message
        if rec.type != "assistant" or message is None:
            return None
        return _fields(rec.timestamp, rec.requestId, rec.isSidechain, rec.isApiErrorMessage, rec.costUSD,
                       message.id, message.model, message.usage, lambda: msgspec.json.decode(message.content))


def _fields(ts: Any, request_id: Any, sidechain: Any, api_error: Any, cost: Any, message_id: Any, model: Any,
            usage: Any, content: Callable[[], Any]) -> Fields | None:
    if not isinstance(usage, Mapping):
        return None
    name = text(model)
    speed = usage.get("speed")
    synthetic = name == SYNTHETIC
    if synthetic:
        name = None
    elif name is not None and speed == "fast":
        name += "-fast"  # fast mode is priced apart, so it is its own model (as in ccusage)
    message_id = text(message_id)
    fields: Fields = {
        "ts": ts,
        "request_id": text(request_id) or message_id,
        "model": name,
        "provider": provider_of(name),
        "cost": money(cost),
    }
    fields.update(anthropic_usage(usage))
    if synthetic or flag(api_error):
        fields["error"] = _first_text(content()) or "API error"
        if not fields.get("prompt_tokens") and not fields.get("completion_tokens"):
            fields["token_source"] = "missing"  # placeholder zeros, not a reported usage
    if message_id is not None:
        total = fields.get("prompt_tokens", 0) + fields.get("completion_tokens", 0)
        rank = total * 4 + (0 if sidechain is True else 2) + (speed is not None)
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
