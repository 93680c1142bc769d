"""A typed fast path for ``app``-shaped records: msgspec decodes (or converts) straight into a Struct.

Most lines of a gateway or application log, and the rows of a ``usage_logs`` ledger, are hand-made
records the ``app`` format reads. Decoding them into dicts and probing each field's spellings cost
about 20 us a line; a ``msgspec`` Struct that knows every spelling does the type checks in C while
parsing, so only the choice between spellings is left to Python (generated straight-line code).
Lines go through :func:`fields_from_line`, decoded records (ledger rows) through
:func:`fields_from_record` (``msgspec.convert``).

The fast path is only an accelerator: it gives up (returns None) on anything it cannot read exactly
as the general path (normaliser -> format detection -> ``AppFormat.extract``) would, which then
handles the line and produces the same fields, or the same skip. It gives up when

* a line is not plain ASCII (msgspec does not check UTF-8 in fields it skips, orjson rejects it);
* the line does not decode into the Struct: not an object, bad JSON, a value of another type than
  the common one (a count written as a string, a boolean latency, a negative count ...);
* a key that another format detects on is present (``DETECT_KEYS``), or ``metadata.usage`` (Bedrock);
* a credential field is present (the raw line must then be re-encoded with it masked).

One known difference remains, on purpose: a number too large for a double (``1e400``) in a field
tokentop does not read is accepted here, while orjson rejects the whole line as invalid JSON.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final

import msgspec

from tokentop.core.fields import MAX_TOKENS, SECRET_FIELDS
from tokentop.core.formats import DETECT_KEYS, Fields
from tokentop.core.formats import app as spelt

UNSET: Final = msgspec.UNSET
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_TOKENS)] | None
Amount = Annotated[float, msgspec.Meta(ge=0, le=sys.float_info.max)] | None
Label = str | None
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
"""orjson reads an integer beyond 64 bits as a float, msgspec as an int: those are left to orjson."""
Finite = Annotated[float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)]
"""msgspec reads 1e400 as inf where orjson rejects the line: left to orjson."""
Time = str | Int64 | Finite | None
Text = str | Int64 | Finite | None
"""A label: numbers are read as their decimal form (numeric ids are common in ledgers)."""


class _Details(msgspec.Struct):
    cached_tokens: Count = None
    reasoning_tokens: Count = None


class _Error(msgspec.Struct):
    message: Label = None


_SECRETS: Final = tuple(sorted(SECRET_FIELDS))


def _struct(name: str, typed: dict[str, Any], flags: tuple[str, ...]) -> Any:
    """A Struct with ``typed`` fields (default None) and ``flags``: untyped fields whose mere presence
    sends the line to the general path (default UNSET)."""
    fields: list[tuple[str, Any, Any]] = [(key, kind, None) for key, kind in typed.items() if key not in flags]
    fields += [(key, Any, UNSET) for key in flags]
    # Attribute names are identifiers ("x-api-key" -> x_api_key); the JSON keys stay as they are.
    return msgspec.defstruct(name, [(_attr(key), kind, default) for key, kind, default in fields],
                             rename={_attr(key): key for key, _, _ in fields})


def _attr(key: str) -> str:
    return key.replace("-", "_")


_COUNT_KEYS: Final = {key: Count for spellings in spelt.COUNTS.values() for key in spellings}
_COUNTS_TYPED: Final = {**_COUNT_KEYS, "prompt_tokens_details": _Details | None,
                        "completion_tokens_details": _Details | None}
_Usage = _struct("_Usage", {**_COUNTS_TYPED, "tokens": Count}, ())
_Metadata = _struct("_Metadata", {"platform": Label, "source": Label}, ("usage", *_SECRETS))

_LABEL_KINDS: Final = {
    "ts": Time, "request_id": Text, "user": Text, "team": Text, "provider": Text,
    "model": Text, "cost": Amount, "latency_ms": Amount, "token_source": Label, "api_key_id": Text,
    "cache_hit": bool | None,
}
_TOP: Final = {
    **{key: _LABEL_KINDS[name] for name, spellings in spelt.LABELS.items() if name in _LABEL_KINDS
       for key in spellings},
    **_COUNTS_TYPED,
    **{key: _Usage | None for key in spelt.USAGE_OBJECTS if key != "tokens"},
    "tokens": _Usage | Count,
    "metadata": _Metadata | None,
    "platform": Label, "endpoint": Label, "source": Label, "status": Label, "error": str | _Error | None,
}
_FLAGS: Final = tuple(sorted(set().union(*DETECT_KEYS.values()) - {"metadata"})) + spelt.API_KEY + _SECRETS
AppLine = _struct("AppLine", _TOP, tuple(dict.fromkeys(_FLAGS)))
"""Every spelling the app format reads, typed; every key another format (or a secret) is known by."""


def _chooser(name: str, groups: dict[str, tuple[str, ...]], texts: frozenset[str] = frozenset()
             ) -> Callable[[Any], tuple[Any, ...]]:
    """A function giving, for each group, the first non-null spelling's value (as
    :func:`~tokentop.core.fields.first` does; a blank string in a ``texts`` group reads as None, as
    :func:`~tokentop.core.fields.text` reads it) -- generated, like ``namedtuple``'s methods, because
    straight-line attribute loads are several times faster than any loop over the spellings."""
    lines = [f"def {name}(s):"]
    for i, (group, spellings) in enumerate(groups.items()):
        names = [_attr(key) for key in spellings if key in _TOP and key not in _FLAGS]
        lines.append(f"    v{i} = s.{names[0]}")
        lines += [f"    if v{i} is None: v{i} = s.{other}" for other in names[1:]]
        if group in texts:
            lines += [f"    if v{i} is not None:",
                      f"        if type(v{i}) is not str: v{i} = str(v{i})",
                      f"        elif not v{i}.strip(): v{i} = None"]
    lines.append(f"    return ({', '.join(f'v{i}' for i in range(len(groups)))},)")
    return _compile(name, lines)


def _unflagged(name: str, flags: tuple[str, ...]) -> Callable[[Any], bool]:
    """A function telling that none of ``flags`` is present in a decoded ``struct`` (generated for
    the same reason as :func:`_chooser`: a chain of attribute tests beats copying ~100 fields)."""
    tests = " and ".join(f"s.{_attr(key)} is UNSET" for key in flags)
    return _compile(name, [f"def {name}(s):", f"    return {tests}"])


def _compile(name: str, lines: list[str]) -> Any:
    scope: dict[str, Any] = {"UNSET": UNSET}
    exec("\n".join(lines), scope)  # noqa: S102 - generated from the fixed spelling tables only
    return scope[name]


_LABELS: Final = {name: spelt.LABELS[name] for name in _LABEL_KINDS}
_choose_labels = _chooser("choose_labels", _LABELS,
                          frozenset({"request_id", "user", "team", "provider", "model", "api_key_id"}))
_choose_counts = _chooser("choose_counts", spelt.COUNTS)
_decode = msgspec.json.Decoder(AppLine).decode
_convert = msgspec.convert
_NO_METADATA: Final = _Metadata()
_line_unflagged = _unflagged("line_unflagged", tuple(dict.fromkeys(_FLAGS)))
_metadata_unflagged = _unflagged("metadata_unflagged", ("usage", *_SECRETS))


def fields_from_line(line: bytes) -> Fields | None:
    """The ``app`` format's fields of one line, or None: let the general path read it."""
    if not line.isascii():
        return None
    try:
        s = _decode(line)
    except (msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError
        return None
    return _fields(s)


def fields_from_record(record: Mapping[str, Any]) -> Fields | None:
    """The same for a record already decoded (a ledger row): msgspec checks its values in C."""
    try:
        s = _convert(record, AppLine)
    except (msgspec.ValidationError, RecursionError):
        return None
    return _fields(s)


def _fields(s: Any) -> Fields | None:
    if not _line_unflagged(s):
        return None
    metadata = s.metadata
    if metadata is None:
        metadata = _NO_METADATA
    elif not _metadata_unflagged(metadata):
        return None
    ts, request_id, user, team, provider, model, cost, latency, token_source, api_key_id, cache_hit = \
        _choose_labels(s)
    usage = s.usage or s.tokenUsage or s.token_usage  # Structs are truthy, None is not
    if usage is None and type(s.tokens) is _Usage:
        usage = s.tokens
    counts = s if usage is None else usage
    prompt, completion, total, cached, cache_write, reasoning = _choose_counts(counts)
    if total is None and type(counts.tokens) is int:
        total = counts.tokens  # a bare "tokens: 1500" is a total
    if cached is None and counts.prompt_tokens_details is not None:
        cached = counts.prompt_tokens_details.cached_tokens
    if reasoning is None and counts.completion_tokens_details is not None:
        reasoning = counts.completion_tokens_details.reasoning_tokens
    error, status = s.error, s.status
    if error is not None and type(error) is not str:
        error = error.message
    platform = metadata.platform or s.platform
    endpoint = s.endpoint or metadata.source or s.source
    # text(): a blank label reads as None (inline: a call per tag cost more than the rest of a tag)
    if platform is not None and not platform.strip():
        platform = None
    if endpoint is not None and not endpoint.strip():
        endpoint = None
    if status is not None and not status.strip():
        status = None
    if error is not None and not error.strip():
        error = None
    return {
        "ts": ts, "request_id": request_id, "user": user, "team": team, "provider": provider, "model": model,
        "cost": cost, "latency_ms": latency,
        "token_source": None if token_source is None else "actual" if token_source == "actual" else "estimated",
        "api_key_id": api_key_id, "cache_hit": cache_hit,
        "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total,
        "cached_tokens": cached, "cache_write_tokens": cache_write, "reasoning_tokens": reasoning,
        "platform": platform, "endpoint": endpoint, "status": status, "error": error, "format": "app",
    }



# What the learned-shape lane (app_lane) shares with this path: the types, and how counts are chosen.
Usage = _Usage
choose_counts = _choose_counts
metadata_unflagged = _metadata_unflagged
