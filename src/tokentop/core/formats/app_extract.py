"""The app format's field choice, generated for a decoded Struct: shared by both app fast paths.

The typed path (:mod:`app_typed`: a Struct of every spelling) and the learned-shape lane
(:mod:`app_lane`: a Struct of the keys a log uses) read the same fields the same way, so one generator
writes the code both run -- for the keys their Struct holds -- the way ``AppFormat.extract`` reads a
dict: the first non-null spelling of each field, the usage object before top-level counts, metadata
tags before top-level ones, blank labels as None. The code then hands the fields to
``Normaliser.build``. Straight-line code because attribute loads are several times faster than any
loop over the spellings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from tokentop.core.event import UsageEvent
from tokentop.core.formats import app as spelt
from tokentop.core.formats.app_typed import Usage, choose_counts, metadata_unflagged, usage_unflagged

Build = Callable[..., UsageEvent]
Extract = Callable[[Any, float, "bytes | None"], "UsageEvent | None"]
"""(decoded Struct, read time, raw line) -> the event, or None: metadata names a key another format
or a credential is known by (the general path then reads the record)."""

_TEXT_GROUPS: Final = frozenset({"request_id", "user", "team", "provider", "model", "api_key_id"})
_LABEL_ORDER: Final = ("ts", "request_id", "user", "team", "provider", "model", "cost", "latency_ms",
                       "token_source", "api_key_id", "cache_hit")
_USAGE_OBJECTS: Final = tuple(key for key in spelt.USAGE_OBJECTS if key != "tokens")
_DETAIL_OBJECTS: Final = tuple(dict.fromkeys(c for _, containers in spelt.DETAILS for c in containers))


def _details(objects: Mapping[str, str]) -> list[str]:
    """Code reading ``app.DETAILS`` from the detail objects that exist (JSON key -> expression), as
    ``app._counts`` does: each count not yet known from the first detail object that gives it."""
    lines = []
    for name, containers in spelt.DETAILS:
        for container in containers:
            if container in objects:
                lines += [f"        if {name} is None:",
                          f"            details = {objects[container]}",
                          f"            if details is not None: {name} = details.{name}"]
    return lines


def extractor(attrs: Mapping[str, str], build: Build) -> Extract:
    """Code reading an app Struct whose JSON keys ``attrs`` maps to attribute names (a spelling the
    Struct does not hold reads as None)."""
    attr = {key: f"s.{name}" for key, name in attrs.items()}
    lines = ["def extract(s, read_time, raw):"]

    def first(var: str, spellings: tuple[str, ...]) -> bool:
        """Whether the Struct holds any of the spellings (no code is written to check a constant None)."""
        present = [attr[k] for k in spellings if k in attr]
        lines.append(f"    {var} = {present[0] if present else 'None'}")
        lines.extend(f"    if {var} is None: {var} = {other}" for other in present[1:])
        return bool(present)

    for name in _LABEL_ORDER:
        if first(name, spelt.LABELS[name]) and name in _TEXT_GROUPS:
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
    tokens = attr.get("tokens")
    if tokens is not None:
        lines.append(f"    if usage is None and type({tokens}) is Usage: usage = {tokens}")
    lines.append("    if usage is None:")
    top = len(lines)
    for name, spellings in spelt.COUNTS.items():
        first(name, spellings)
    lines[top:] = ["    " + line for line in lines[top:]]
    if tokens is not None:
        lines.append(f"        if total_tokens is None and type({tokens}) is int: total_tokens = {tokens}")  # "tokens": 1500
    lines += _details({key: value for key, value in attr.items() if key in _DETAIL_OBJECTS})
    lines += ["    elif not usage_unflagged(usage): return None",
              "    else:",
              "        prompt_tokens, completion_tokens, total_tokens, cached_tokens, cache_write_tokens, "
              "reasoning_tokens = choose_counts(usage)",
              "        if total_tokens is None and type(usage.tokens) is int: total_tokens = usage.tokens",
              *_details({key: f"usage.{key}" for key in _DETAIL_OBJECTS})]
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
                             "metadata_unflagged": metadata_unflagged, "usage_unflagged": usage_unflagged}
    exec("\n".join(lines), scope)  # noqa: S102 - generated from the fixed spelling tables and the Struct's keys
    return scope["extract"]
