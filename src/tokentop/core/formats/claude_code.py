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
from typing import Annotated, Any, Final

import msgspec
from msgspec import UNSET, UnsetType

from tokentop.core.event import SkipRecord
from tokentop.core.fields import MAX_TOKENS, decode_object, flag, money, text
from tokentop.core.formats import SUPERSEDE, Fields, Request
from tokentop.core.formats.anthropic import anthropic_usage

LINE_TYPES: Final = frozenset({"assistant", "user", "summary", "system", "file-history-snapshot"})
SYNTHETIC: Final = "<synthetic>"
"""Model name of the placeholder lines Claude Code writes for failed API calls."""


Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_TOKENS)]


# gc=False: decoded JSON holds no reference cycles, and untracked structs are cheaper to make and drop.
class _Usage(msgspec.Struct, gc=False):
    input_tokens: Count | None = None
    output_tokens: Count | None = None
    cache_creation_input_tokens: Count | None = None
    cache_read_input_tokens: Count | None = None
    speed: str | None = None
    output_tokens_details: Any = None


class _Message(msgspec.Struct, gc=False):
    id: str | None = None
    model: str | None = None
    usage: _Usage | None = None


class _Line(msgspec.Struct, gc=False):
    """The few fields of a transcript line tokentop reads; the rest (content, cwd ...) is skipped.
    Typed for the common case: a value of another type sends the line to the general (dict) path."""

    type: str | None = None
    message: _Message | None = None
    timestamp: str | None = None
    requestId: str | None = None  # noqa: N815 - the transcript's own spelling
    isSidechain: bool | None = None  # noqa: N815
    isApiErrorMessage: bool | None = None  # noqa: N815
    costUSD: Annotated[float, msgspec.Meta(ge=0)] | None = None  # noqa: N815
    # Detection needs only their presence: Raw keeps a slice of the line instead of a decoded value.
    sessionId: msgspec.Raw | UnsetType = UNSET  # noqa: N815
    uuid: msgspec.Raw | UnsetType = UNSET
    leafUuid: msgspec.Raw | UnsetType = UNSET  # noqa: N815


_DECODER = msgspec.json.Decoder(_Line)
_INF: Final = float("inf")


class ClaudeCodeFormat:
    name = "claude_code"
    line_needle = b'"usage"'

    def detect(self, record: Mapping[str, Any]) -> bool:
        value = record.get("type")
        return type(value) is str and value in LINE_TYPES and (
            "sessionId" in record or "uuid" in record or "leafUuid" in record
        )

    def extract(self, record: Mapping[str, Any]) -> Fields | None:
        message = record.get("message")
        if record.get("type") != "assistant" or not isinstance(message, Mapping):
            return None
        return _fields(record.get("timestamp"), record.get("requestId"), record.get("isSidechain"),
                       record.get("isApiErrorMessage"), record.get("costUSD"), message.get("id"),
                       message.get("model"), message.get("usage"), lambda: message.get("content"))

    def extract_line(self, line: bytes) -> Request | Fields | None:
        """``extract`` straight from the line's bytes when this format is forced: a typed decoder
        skips the transcript's large content instead of building it into Python objects, and a
        common response line comes back as a :data:`Request` tuple. Anything uncommon (an API-error
        line, missing counts, the TTL split alone, odd types or blank strings) takes the general
        path, so both give the same event (tests check it)."""
        try:
            rec = _DECODER.decode(line)
        except msgspec.ValidationError:
            return self._general(line)
        except msgspec.DecodeError as exc:
            raise SkipRecord("invalid_json", str(exc)) from None
        message = rec.message
        if rec.type != "assistant" or message is None or message.usage is None:
            return None
        if rec.sessionId is UNSET and rec.uuid is UNSET and rec.leafUuid is UNSET:
            return None  # not detected as a transcript line (as the general path decides)
        usage, model, message_id, cost = message.usage, message.model, message.id, rec.costUSD
        uncached, output, write = usage.input_tokens, usage.output_tokens, usage.cache_creation_input_tokens
        if (uncached is None or output is None or write is None or rec.isApiErrorMessage
                or usage.output_tokens_details is not None or usage.speed == "fast" or model == SYNTHETIC
                or not message_id or not model or message_id.isspace() or model.isspace()
                or cost is not None and cost == _INF):
            return self._general(line)
        read = usage.cache_read_input_tokens or 0
        prompt = uncached + read + write
        request_id = rec.requestId
        if not request_id or request_id.isspace():
            request_id = message_id
        rank = (prompt + output) * 4 + (0 if rec.isSidechain else 2) + (usage.speed is not None)
        return (message_id, rank, rec.timestamp, request_id, provider_of(model), model,
                prompt, output, read, write, 0, cost)

    def _general(self, line: bytes) -> Fields | None:
        record = decode_object(line)
        return self.extract(record) if self.detect(record) else None


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
