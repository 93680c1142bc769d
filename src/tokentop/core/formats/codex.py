"""OpenAI Codex CLI session rollouts (``~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl``).

Every line is ``{"timestamp", "type", "payload"}`` (``ordinal`` too since 0.171). Usage is in
``event_msg`` lines whose payload is ``{"type": "token_count", "info": {...} | null}``: ``info`` holds
``total_token_usage`` (CUMULATIVE for the session) and ``last_token_usage`` (the last model
response), each ``{input_tokens, cached_input_tokens, output_tokens, reasoning_output_tokens,
total_tokens}`` (0.171 adds ``cache_write_input_tokens``). Input includes cached, output includes
reasoning: OpenAI's convention, tokentop's. The model comes from the last ``turn_context`` line, the
provider from ``session_meta.model_provider`` (OpenAI when absent).

Counting each model response exactly once is the hard part (ccusage #897, #1288, #1349):

* Codex writes a ``token_count`` again with unchanged totals (rate-limit refreshes, before tool
  follow-ups): a repeat, not a response;
* a forked session (0.144) starts with the child's and its ancestors' ``session_meta`` lines and then
  replays the whole parent history, ``token_count`` events included, into the new file (with new
  timestamps); a fork in 0.171 copies nothing but continues the parent's cumulative total;
* ``resume`` appends to the same file (0.58 restarts the cumulative total at 0 there).

So a response is keyed by its place in the session's cumulative count: the *lineage* (the root
session of the ``session_meta`` block heading the lines, which a fork's copies share with the
parent's file) and ``total_token_usage`` -- a cumulative total seen before in the lineage is a repeat
or a copy. The response's own usage is ``last_token_usage`` (else the growth of the total), counted
once; of two copies the earlier line wins (a replay is dated when the fork was made). ``info: null``
and zero-usage events are absorbed. ``token_usage_record`` lines (0.171) repeat the ``token_count``
beside them and are not counted.

Which ``session_meta`` heads a line is per file: the JSONL follower says which file lines come from
(``set_stream``), and the context of the last ``MAX_STREAMS`` files is kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from tokentop.core.event import SkipRecord
from tokentop.core.fields import count, decode_object, text
from tokentop.core.formats import SUPERSEDE, Fields
from tokentop.core.providers import canonical_provider
from tokentop.core.timeparse import parse_time

LINE_TYPES: Final = frozenset({"session_meta", "turn_context", "event_msg", "response_item", "compacted",
                               "token_usage_record", "world_state"})
USAGE_KEYS: Final = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens",
                     "total_tokens", "cache_write_input_tokens")
MAX_STREAMS: Final = 4096
"""Files whose context (lineage, model, last total) is remembered; the least recently read go first."""
_NEEDLES: Final = (b'"token_count"', b'"turn_context"', b'"session_meta"')
_EARLIEST: Final = 2**62
"""Rank of a copy: the earlier its line's time, the higher (a line without a time ranks lowest)."""


@dataclass(slots=True)
class _Stream:
    """What the earlier lines of one file said."""

    header: dict[str, str | None] = field(default_factory=dict)
    """The ``session_meta`` block being read: session id -> the id it was forked from."""
    in_header: bool = False
    lineage: str | None = None
    provider: str | None = None
    model: str | None = None
    last_total: tuple[int, ...] | None = None


class CodexFormat:
    name = "codex"

    def __init__(self) -> None:
        self._streams: OrderedDict[Hashable, _Stream] = OrderedDict()
        self._stream = self._streams[None] = _Stream()

    def set_stream(self, key: Hashable) -> None:
        stream = self._streams.get(key)
        if stream is None:
            if len(self._streams) >= MAX_STREAMS:
                self._streams.popitem(last=False)
            stream = self._streams[key] = _Stream()
        else:
            self._streams.move_to_end(key)
        self._stream = stream

    def detect(self, record: Mapping[str, Any]) -> bool:
        kind = record.get("type")
        return type(kind) is str and kind in LINE_TYPES and "payload" in record and "timestamp" in record

    def extract(self, record: Mapping[str, Any]) -> Fields | None:
        payload = record.get("payload")
        if not isinstance(payload, Mapping):
            return None
        kind, stream = record["type"], self._stream
        if kind == "session_meta":
            self._session_meta(stream, payload)
            return None
        stream.in_header = False
        if kind == "turn_context":
            stream.model = text(payload.get("model")) or stream.model
            return None
        if kind == "event_msg" and payload.get("type") == "token_count":
            return self._token_count(stream, record.get("timestamp"), payload.get("info"))
        return None

    def extract_line(self, line: bytes) -> Fields | None:
        """``extract`` for a forced source: only the few lines that can matter are parsed (most of a
        rollout is ``response_item`` lines holding the conversation)."""
        if not any(needle in line for needle in _NEEDLES):
            return None
        record = decode_object(line)
        return self.extract(record) if self.detect(record) else None

    def _session_meta(self, stream: _Stream, payload: Mapping[str, Any]) -> None:
        session = text(payload.get("id"))
        if session is None:
            return
        if not stream.in_header:  # a new block: a new session (or a resume) starts here
            stream.header, stream.in_header = {}, True
            stream.provider = text(payload.get("model_provider"))
            stream.last_total = None
        stream.header[session] = text(payload.get("forked_from_id"))
        stream.lineage = _root(stream.header)

    def _token_count(self, stream: _Stream, ts: Any, info: Any) -> Fields | None:
        if not isinstance(info, Mapping):
            return None  # info: null -- a rate-limit update, no usage
        total = _usage(info.get("total_token_usage"), "total_token_usage")
        last = _usage(info.get("last_token_usage"), "last_token_usage")
        previous, stream.last_total = stream.last_total, total
        if last is None and total is not None:
            last = _growth(total, previous)
        if last is None or not any(last):
            return None
        try:
            when = parse_time(ts)
        except (ValueError, OverflowError, OSError) as exc:
            raise SkipRecord("bad_time", str(exc)) from None
        prompt, cached, output, reasoning, reported, write = last
        fields: Fields = {
            "ts": when,
            "provider": canonical_provider(stream.provider or "openai"),
            "model": stream.model,
            "prompt_tokens": prompt,
            "completion_tokens": output,
            "total_tokens": reported or None,
            "cached_tokens": cached,
            "cache_write_tokens": write,
            "reasoning_tokens": reasoning,
        }
        if total is not None:  # earlier copies win: a fork's replay is dated when the fork was made
            fields[SUPERSEDE] = (("codex", stream.lineage, total), _EARLIEST - int(when * 1000) if when else 0)
        return fields


def _usage(value: Any, name: str) -> tuple[int, ...] | None:
    """A TokenUsage object as (input, cached, output, reasoning, total, cache_write); None if absent."""
    if not isinstance(value, Mapping):
        return None
    return tuple(count(value.get(key), f"{name}.{key}") or 0 for key in USAGE_KEYS)


def _growth(total: tuple[int, ...], previous: tuple[int, ...] | None) -> tuple[int, ...]:
    """The usage since the previous cumulative total of the file (all of it after a reset)."""
    if previous is None or any(now < then for now, then in zip(total, previous)):
        return total
    return tuple(now - then for now, then in zip(total, previous))


def _root(header: Mapping[str, str | None]) -> str:
    """The session a block of ``session_meta`` lines descends from (a 0.144 fork's file lists the child
    first, then its ancestors): the one forked from nothing, else the oldest the block names. A file
    whose only ``session_meta`` names a parent (a 0.171 fork: nothing copied) is its own lineage."""
    for session, parent in header.items():
        if parent is None:
            return session
    for session, parent in header.items():
        if parent not in header:
            return session
    return next(iter(header))
