"""The hand-made shapes applications log: flat snake_case or camelCase counts, or a nested ``usage``.

This format accepts any JSON object, so it is tried last. See docs/normalisation.md for the rules.
"""

from __future__ import annotations

import hashlib
from functools import partial
from operator import itemgetter
from collections.abc import Callable, Mapping
from typing import Any, Final

from tokentop.core.fields import count, dig, first, flag, millis, money, text
from tokentop.core.formats import Fields
from tokentop.core.formats.anthropic import anthropic_usage, is_anthropic_usage

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


CACHE_HIT = ("cache_hit", "cacheHit", "cached")

DETAILS: Final = (
    ("cached_tokens", ("prompt_tokens_details", "input_tokens_details")),
    ("cache_write_tokens", ("prompt_tokens_details", "input_tokens_details")),
    ("reasoning_tokens", ("completion_tokens_details", "output_tokens_details")),
)
"""Counts a usage object keeps in OpenAI's detail objects (Chat Completions' ``prompt_tokens_details``,
the Responses API's ``input_tokens_details``...): field -> the detail objects holding it, in order;
read when no spelling of the field gave a value."""

LABELS: Final = {
    "ts": TIME, "request_id": REQUEST_ID, "user": USER, "team": TEAM, "provider": PROVIDER, "model": MODEL,
    "cost": COST, "latency_ms": LATENCY_MS, "token_source": TOKEN_SOURCE, "api_key_id": API_KEY_ID,
    "api_key": API_KEY, "cache_hit": CACHE_HIT,
}
"""Top-level fields: canonical name -> its spellings, in order of preference."""
COUNTS: Final = {
    "prompt_tokens": PROMPT, "completion_tokens": COMPLETION, "total_tokens": TOTAL, "cached_tokens": CACHED,
    "cache_write_tokens": CACHE_WRITE, "reasoning_tokens": REASONING,
}
"""Count fields, read from the usage object (or from the record itself when it has none)."""


class Spellings:
    """Reads a group of fields given by their spellings: ``pick(record)`` -> canonical name -> value.

    A log has few record shapes (sets of keys), so the work of matching keys to fields is done once
    per shape: the plan is an ``itemgetter`` of the spellings present and the names they stand for,
    cached by the shape. When a record spells one field twice (``user`` and ``userId``), the first
    non-null spelling in order of preference wins, exactly as :func:`~tokentop.core.fields.first`
    reads it (that shape is read spelling by spelling).
    """

    MAX_SHAPES: Final = 1024
    """Plans kept; a source with ever-new key sets only clears the cache, it never grows it."""

    def __init__(self, groups: Mapping[str, tuple[str, ...]]) -> None:
        self.groups = tuple(groups.items())
        self.names = {spelling: name for name, spellings in groups.items() for spelling in spellings}
        self._plans: dict[tuple[str, ...], Callable[[Mapping[str, Any]], dict[str, Any]]] = {}

    def pick(self, record: Mapping[str, Any]) -> dict[str, Any]:
        shape = tuple(record)
        plan = self._plans.get(shape)
        if plan is None:
            if len(self._plans) >= self.MAX_SHAPES:
                self._plans.clear()
            plan = self._plans[shape] = self._plan(shape)
        return plan(record)

    def _plan(self, shape: tuple[str, ...]) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
        present = [key for key in shape if key in self.names]
        names = tuple(self.names[key] for key in present)
        if len(set(names)) < len(names):  # some field is spelt twice
            return lambda record: {name: first(record, spellings) for name, spellings in self.groups}
        if len(present) == 1:
            key, name = present[0], names[0]
            return lambda record: {name: record[key]}
        if not present:
            return lambda record: {}
        values = itemgetter(*present)
        return lambda record: dict(zip(names, values(record)))


_LABELS = Spellings(LABELS)
_COUNTS = Spellings(COUNTS)
_FLAT = Spellings({**LABELS, **COUNTS})


def _token_source(value: Any) -> str:
    return "actual" if value == "actual" else "estimated"  # "unknown", "tiktoken" ... are estimates


def _count_reader(name: str) -> Callable[[Any], int | None]:
    return partial(count, name=name)


READERS: Final[dict[str, Callable[[Any], Any]]] = {
    "ts": lambda value: value,  # parsed by the normaliser
    "request_id": text, "user": text, "team": text, "provider": text, "model": text, "api_key_id": text,
    "api_key": lambda value: key_fingerprint(value),
    "cost": money, "latency_ms": millis, "cache_hit": flag, "token_source": _token_source,
    **{name: _count_reader(name) for name in COUNTS},
}
"""How each canonical field's value is read (and checked); only fields a record has are read."""


class AppFormat:
    name = "app"

    def detect(self, record: Mapping[str, Any]) -> bool:
        return True

    def extract(self, record: Mapping[str, Any]) -> Fields:
        usage = _usage_object(record)
        if usage is None:
            usage = record
            found = _FLAT.pick(record)
        else:
            found = _LABELS.pick(record)
            found.update(_COUNTS.pick(usage))
        out = {name: READERS[name](value) for name, value in found.items() if value is not None}
        fingerprint = out.pop("api_key", None)
        if out.get("api_key_id") is None and fingerprint is not None:
            out["api_key_id"] = fingerprint
        _counts(usage, out)
        _tags(record, out)
        return out


def _usage_object(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for key in USAGE_OBJECTS:
        value = record.get(key)
        if value is not None and isinstance(value, Mapping):
            return value
    return None


def _counts(usage: Mapping[str, Any], out: Fields) -> None:
    """What the count spellings alone do not say: a bare ``tokens`` total, OpenAI's details (Chat
    Completions' and the Responses API's), and Anthropic's convention (input excludes the cache)."""
    if out.get("total_tokens") is None and type(usage.get("tokens")) is int:
        out["total_tokens"] = count(usage["tokens"], "tokens")  # a bare "tokens: 1500" is a total
    for name, containers in DETAILS:
        for container in containers:
            if out.get(name) is not None:
                break
            if container in usage:
                out[name] = count(dig(usage, f"{container}.{name}"), name)
    if is_anthropic_usage(usage):
        anthropic = anthropic_usage(usage)
        out.update(prompt_tokens=anthropic["prompt_tokens"], cached_tokens=anthropic["cached_tokens"],
                   cache_write_tokens=anthropic["cache_write_tokens"])
        if not out.get("reasoning_tokens"):
            out["reasoning_tokens"] = anthropic["reasoning_tokens"]


def _tags(record: Mapping[str, Any], out: Fields) -> None:
    """Platform and endpoint tags (top level or in ``metadata``), status and error."""
    _platform_endpoint(record, out, record.get("type"))
    status = record.get("status")
    if status is not None:
        out["status"] = text(status)
    error = record.get("error")
    if error is not None:
        out["error"] = text(error.get("message") if isinstance(error, Mapping) else error)


def _platform_endpoint(record: Mapping[str, Any], out: Fields, kind: Any) -> None:
    """Platform (``metadata.platform``, then ``platform``) and endpoint (``endpoint``, then
    ``metadata.source``, ``source``, then ``kind``: the record's ``type`` for app records)."""
    metadata = record.get("metadata")
    if not isinstance(metadata, Mapping):
        metadata = {}
    out["platform"] = text(metadata.get("platform") or record.get("platform"))
    out["endpoint"] = text(record.get("endpoint") or metadata.get("source") or record.get("source") or kind)


BESIDE: Final = ("ts", "request_id", "user", "team", "provider", "cost", "latency_ms", "token_source",
                 "api_key_id", "api_key")
"""The app-level labels read beside whatever format claims a record (model, status, error and the
counts stay the format's own)."""


def add_app_fields(record: Mapping[str, Any], fields: Fields) -> None:
    """Fill the app-level fields a format left empty from the record's top level, read exactly as the
    ``app`` format reads them: a gateway that logs a provider response with who, when and what it cost
    beside it (``{"object": "chat.completion", ..., "user": "alice", "timestamp": ...}``). The format's
    own values win; a record's ``type`` is never an endpoint here (it is the provider's discriminator)."""
    found = _LABELS.pick(record)
    beside: Fields = {name: READERS[name](value) for name, value in found.items()
                      if value is not None and name in BESIDE}
    fingerprint = beside.pop("api_key", None)
    if beside.get("api_key_id") is None and fingerprint is not None:
        beside["api_key_id"] = fingerprint
    _platform_endpoint(record, beside, None)
    for name, value in beside.items():
        if value is not None and fields.get(name) is None:
            fields[name] = value


def key_fingerprint(key: Any) -> str | None:
    """A short, stable fingerprint of an API key, so the key itself is never kept or shown."""
    if not isinstance(key, str) or not key:
        return None
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:12]
