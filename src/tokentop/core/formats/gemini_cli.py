"""Gemini CLI chat recordings (``~/.gemini/tmp/<project hash>/chats/session-*.jsonl``, subagents in
``chats/<parent session>/<id>.jsonl``).

The file is a log of records (``ChatRecordingService``): a metadata line ``{sessionId, projectHash,
startTime, ...}``, message records ``{id, timestamp, type, content, ...}``, ``{"$set": {...}}``
metadata updates and ``{"$rewindTo": id}``. A message is appended again, whole, each time it changes
(its tokens arrive, a tool call is added), and a session resumed from a legacy ``.json`` file is
copied into the new ``.jsonl`` file message by message. A ``gemini`` message's ``tokens`` hold the
response's ``usageMetadata`` as ``{input, output, cached, thoughts, tool, total}``: promptTokenCount,
candidatesTokenCount (EXCLUDING thoughts), cachedContentTokenCount, thoughtsTokenCount,
toolUsePromptTokenCount, totalTokenCount -- read by the Gemini rule (``gemini.gemini_counts``).

A request is a ``gemini`` message with ``tokens``; its superseding key is the message id (random
per message), so every re-append and copy counts once. A rewind removes messages from the
conversation, not from what was spent: rewound responses stay counted. Messages that never got tokens
(summaries, interrupted turns) and every other record are absorbed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tokentop.core.fields import count, text
from tokentop.core.formats import SUPERSEDE, Fields
from tokentop.core.formats.gemini import gemini_counts

MESSAGE_TYPES: Final = frozenset({"user", "gemini", "info", "error", "warning"})
TOKENS: Final = ("input", "output", "cached", "thoughts", "tool", "total")


class GeminiCliFormat:
    name = "gemini_cli"

    def detect(self, record: Mapping[str, Any]) -> bool:
        if "$set" in record or "$rewindTo" in record:
            return True
        if "projectHash" in record:
            return "sessionId" in record
        kind = record.get("type")
        return (type(kind) is str and kind in MESSAGE_TYPES and "id" in record and "timestamp" in record
                and "content" in record)

    def extract(self, record: Mapping[str, Any]) -> Fields | None:
        tokens = record.get("tokens")
        if record.get("type") != "gemini" or not isinstance(tokens, Mapping):
            return None
        message_id = text(record.get("id"))
        prompt, output, cached, thoughts, tool, total = (count(tokens.get(k), f"tokens.{k}") for k in TOKENS)
        fields: Fields = {
            "ts": record.get("timestamp"),
            "request_id": message_id,
            "model": text(record.get("model")),
            "provider": "gemini",
            **gemini_counts(prompt, output, cached, thoughts, tool, total),
        }
        if message_id is not None:
            fields[SUPERSEDE] = (("gemini_cli", message_id), (total or 0) + 1)
        return fields
