"""Learned shapes: the fast lane for the app-shaped lines a source writes over and over.

A log is written by a few pieces of code, so its app records come in a few key sets. Once the typed
path (:mod:`app_typed`) has read a line, the lane learns its keys; lines whose keys are all known are
then decoded by a msgspec Struct holding exactly those keys, typed as the typed path types them, that
rejects any other key (``forbid_unknown_fields``) -- so a line of another format, with a credential or
with a key never seen, falls back to the typed and general paths, which decide as before. A Struct of
the few keys a log uses decodes far faster than one of every spelling, and the code that picks the
spellings is generated for the keys known, then builds the event with ``Normaliser.build``.

The lane gives exactly what the typed path gives (tests compare both on every shape they know); it
only ever declines. Learning stops at ``MAX_KEYS`` keys or ``MAX_LEARNED`` attempts, so a source with
ever-new keys costs at most a few hundred extra parses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import msgspec
import orjson

from tokentop.core.event import UsageEvent
from tokentop.core.formats import app as spelt
from tokentop.core.formats.app_typed import _TOP, Usage, choose_counts, metadata_unflagged

MAX_KEYS: Final = 64
MAX_LEARNED: Final = 256
Build = Callable[..., UsageEvent]

_TEXT_GROUPS: Final = frozenset({"request_id", "user", "team", "provider", "model", "api_key_id"})
_LABEL_ORDER: Final = ("ts", "request_id", "user", "team", "provider", "model", "cost", "latency_ms",
                       "token_source", "api_key_id", "cache_hit")
_USAGE_OBJECTS: Final = tuple(key for key in spelt.USAGE_OBJECTS if key != "tokens")


class AppLane:
    """Decodes lines of the app shapes a source has shown (see the module docstring)."""

    def __init__(self, build: Build) -> None:
        self._build = build
        self._keys: list[str] = []
        self._known: set[str] = set()
        self._learned = 0
        self._decode: Callable[[bytes], Any] | None = None
        self._extract: Callable[[Any, float, bytes | None], UsageEvent | None] | None = None

    def event(self, line: bytes, read_time: float, raw: bytes | None) -> UsageEvent | None:
        """The line's event, or None: a line the lane cannot read (the other paths then will)."""
        decode = self._decode
        if decode is None or not line.isascii():  # msgspec does not check UTF-8 in what it skips
            return None
        try:
            s = decode(line)
        except (msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError
            return None
        return self._extract(s, read_time, raw)  # type: ignore[misc]

    def learn(self, line: bytes) -> None:
        """Learn the keys of a line the typed path has just read as an app record."""
        if self._learned >= MAX_LEARNED:
            return
        self._learned += 1
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            return
        if type(record) is not dict:
            return
        new = [key for key in record if key not in self._known]
        if not new:
            return
        if len(self._keys) + len(new) > MAX_KEYS:
            self._learned = MAX_LEARNED  # a source of ever-new keys: the typed path reads it
            return
        self._keys += new
        self._known.update(new)
        struct = msgspec.defstruct(
            "LearnedAppLine", [(f"k{i}", _TOP.get(key, msgspec.Raw), None) for i, key in enumerate(self._keys)],
            rename={f"k{i}": key for i, key in enumerate(self._keys)}, forbid_unknown_fields=True)
        self._decode = msgspec.json.Decoder(struct).decode
        self._extract = _extractor(self._keys, self._build)


def _extractor(keys: list[str], build: Build) -> Callable[[Any, float, bytes | None], UsageEvent | None]:
    """Generated code reading the fields as ``app_typed._fields`` does, for the keys known only (a
    spelling the shapes never use is None)."""
    attr = {key: f"s.k{i}" for i, key in enumerate(keys)}
    lines = ["def extract(s, read_time, raw):"]

    def first(var: str, spellings: tuple[str, ...], prefix: str | None = None) -> None:
        present = [attr[k] for k in spellings if k in attr] if prefix is None else [f"{prefix}.{k}" for k in spellings]
        lines.append(f"    {var} = {present[0] if present else 'None'}")
        lines.extend(f"    if {var} is None: {var} = {other}" for other in present[1:])

    for name in _LABEL_ORDER:
        first(name, spelt.LABELS[name])
        if name in _TEXT_GROUPS:
            lines += [f"    if {name} is not None:",
                      f"        if type({name}) is not str: {name} = str({name})",
                      f"        elif not {name} or {name}.isspace(): {name} = None"]  # not .strip(): no copy
    if "metadata" in attr:
        lines += [f"    metadata = {attr['metadata']}",
                  "    if metadata is None: md_platform = md_source = None",
                  "    elif not metadata_unflagged(metadata): return None",
                  "    else: md_platform, md_source = metadata.platform, metadata.source"]
    else:
        lines.append("    md_platform = md_source = None")
    usage = [attr[k] for k in _USAGE_OBJECTS if k in attr]
    lines.append(f"    usage = {' or '.join(usage) if usage else 'None'}")  # Structs are truthy
    tokens = attr.get("tokens", "None")
    lines += [f"    if usage is None and type({tokens}) is Usage: usage = {tokens}",
              "    if usage is None:"]
    top = len(lines)
    for name, spellings in spelt.COUNTS.items():
        first(name, spellings)
    lines[top:] = ["    " + line for line in lines[top:]]
    lines += [f"        if total_tokens is None and type({tokens}) is int: total_tokens = {tokens}",
              f"        details = {attr.get('prompt_tokens_details', 'None')}",
              "        if cached_tokens is None and details is not None: cached_tokens = details.cached_tokens",
              f"        details = {attr.get('completion_tokens_details', 'None')}",
              "        if reasoning_tokens is None and details is not None: reasoning_tokens = details.reasoning_tokens",
              "    else:",
              "        prompt_tokens, completion_tokens, total_tokens, cached_tokens, cache_write_tokens, "
              "reasoning_tokens = choose_counts(usage)",
              "        if total_tokens is None and type(usage.tokens) is int: total_tokens = usage.tokens",
              "        if cached_tokens is None and usage.prompt_tokens_details is not None:",
              "            cached_tokens = usage.prompt_tokens_details.cached_tokens",
              "        if reasoning_tokens is None and usage.completion_tokens_details is not None:",
              "            reasoning_tokens = usage.completion_tokens_details.reasoning_tokens"]
    error, status = attr.get("error", "None"), attr.get("status", "None")
    platform, endpoint, source = attr.get("platform", "None"), attr.get("endpoint", "None"), attr.get("source", "None")
    lines += [f"    error, status = {error}, {status}",
              "    if error is not None and type(error) is not str: error = error.message",
              f"    platform = md_platform or {platform}",
              f"    endpoint = {endpoint} or md_source or {source}",
              *(f"    if {v} is not None and (not {v} or {v}.isspace()): {v} = None"
                for v in ("platform", "endpoint", "status", "error")),
              "    if token_source is not None and token_source != 'actual': token_source = 'estimated'",
              "    return build(ts, request_id, user, api_key_id, team, platform, endpoint, provider, model, "
              "prompt_tokens, completion_tokens, total_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, "
              "token_source, cost, latency_ms, status, error, cache_hit, 'app', read_time, raw)"]
    scope: dict[str, Any] = {"build": build, "Usage": Usage, "choose_counts": choose_counts,
                             "metadata_unflagged": metadata_unflagged}
    exec("\n".join(lines), scope)  # noqa: S102 - generated from the fixed spelling tables and learned keys
    return scope["extract"]
