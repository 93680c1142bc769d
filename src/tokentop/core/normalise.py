"""Turn one decoded record into one :class:`UsageEvent`: the single place where counts are normalised.

Formats (``tokentop.core.formats``) say where a record keeps its fields; this module applies the
rules every format shares: time, provider spelling and inference, token-source, totals and mismatch,
custom field mappings, and cost from the price table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from tokentop.core.event import UNKNOWN, SkipRecord, TokenSource, UsageEvent
from tokentop.core.fields import count, dig, flag, millis, money, text
from tokentop.core.formats import Fields, Format, make_formats
from tokentop.core.providers import canonical_provider, infer_provider
from tokentop.core.timeparse import parse_time

CostFunction = Callable[[UsageEvent], float | None]

_COUNT_FIELDS = frozenset(
    {"prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens"}
)
_TEXT_FIELDS = frozenset({"request_id", "user", "api_key_id", "team", "platform", "endpoint", "provider", "model",
                          "status", "error"})
MAPPABLE_FIELDS = _COUNT_FIELDS | _TEXT_FIELDS | {"ts", "token_source", "cost", "latency_ms", "cache_hit"}

SECRET_FIELDS = frozenset({"api_key", "apiKey", "authorization", "Authorization", "x-api-key", "bearer_token"})
"""Fields whose value is a credential: replaced in the kept raw line, so the detail view never shows it."""
_SUBSET_COUNTS = ("cached_tokens", "cache_write_tokens", "reasoning_tokens")
_PROVIDER_CACHE = 4096


@dataclass(frozen=True, slots=True)
class NormaliseOptions:
    """How one source's records are read. Every option has a safe default."""

    source: str
    default_token_source: TokenSource = "actual"
    """What a record without ``token_source`` counts as."""
    format: str | None = None
    """Force one format by name instead of detecting it per record."""
    field_map: Mapping[str, str] = field(default_factory=dict)
    """Canonical field name -> dotted path in the record, for shapes tokentop cannot guess."""
    keep_raw: bool = True


class Normaliser:
    """Normalises the records of one source (formats may keep per-source state, so one per source)."""

    def __init__(self, options: NormaliseOptions, cost_of: CostFunction | None = None) -> None:
        unknown = set(options.field_map) - MAPPABLE_FIELDS
        if unknown:
            raise ValueError(f"cannot map unknown field(s): {', '.join(sorted(unknown))}")
        self.options = options
        self.formats: list[Format] = make_formats(options.format)
        self._cost_of = cost_of
        self._providers: dict[tuple[str | None, str], tuple[str, bool]] = {}

    def from_line(self, line: bytes, read_time: float) -> UsageEvent | None:
        """Decode one JSON line and normalise it (None: absorbed by a stateful format)."""
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise SkipRecord("invalid_json", str(exc)) from None
        if not isinstance(record, dict):
            raise SkipRecord("not_an_object", type(record).__name__)
        raw = None
        if self.options.keep_raw:
            raw = redacted_line(line, record)
        return self.from_record(record, read_time, raw)

    def from_record(self, record: Mapping[str, Any], read_time: float, raw: bytes | None = None) -> UsageEvent | None:
        fields = self._extract(record)
        if fields is None:
            return None
        if self.options.field_map:
            self._apply_field_map(record, fields)
        return self._finish(fields, read_time, raw)

    def _extract(self, record: Mapping[str, Any]) -> Fields | None:
        for fmt in self.formats:
            if fmt.detect(record):
                fields = fmt.extract(record)
                if fields is not None:
                    fields.setdefault("format", fmt.name)
                return fields
        raise SkipRecord("unrecognised_format", f"not a {self.options.format} record")

    def _apply_field_map(self, record: Mapping[str, Any], fields: Fields) -> None:
        for name, path in self.options.field_map.items():
            value = dig(record, path)
            if value is None:
                continue
            if name in _COUNT_FIELDS:
                fields[name] = count(value, name)
                if fields.get("token_source") == "missing":
                    del fields["token_source"]  # the mapped field supplies the usage
            elif name == "cost":
                fields[name] = money(value)
            elif name == "latency_ms":
                fields[name] = millis(value)
            elif name == "cache_hit":
                fields[name] = flag(value)
            elif name == "token_source":
                fields[name] = "actual" if value == "actual" else "estimated"
            elif name == "ts":
                fields[name] = value
            else:
                fields[name] = text(value)

    def _finish(self, fields: Fields, read_time: float, raw: bytes | None) -> UsageEvent:
        pop = fields.pop
        ts = pop("ts", None)
        time_inferred = ts is None
        if time_inferred:
            ts = read_time
        else:
            try:
                ts = parse_time(ts)
            except (ValueError, OverflowError, OSError) as exc:
                raise SkipRecord("bad_time", str(exc)) from None
            if ts is None:  # an empty time string
                ts, time_inferred = read_time, True
        model = pop("model", None) or UNKNOWN
        provider, provider_inferred = self._provider_of(pop("provider", None), model)

        token_source = pop("token_source", None) or self.options.default_token_source
        prompt = pop("prompt_tokens", None)
        completion = pop("completion_tokens", None)
        total = pop("total_tokens", None)
        if prompt is None and completion is None and total is None:
            token_source = "missing"  # a request without usage still counts, whatever it claims
        if token_source == "missing":
            prompt = completion = total = 0
        mismatched = (
            total is not None and prompt is not None and completion is not None
            and abs(total - prompt - completion) > 1
        )
        prompt = prompt or 0
        completion = completion or 0
        if total is None:
            total = prompt + completion
        # Fields left to the format are passed on as they are; counts it did not give are zero.
        for name in _SUBSET_COUNTS:
            if fields.get(name) is None:
                fields[name] = 0
        fields["cache_hit"] = bool(fields.get("cache_hit"))
        event = UsageEvent(
            ts=ts,
            source=self.options.source,
            provider=provider,
            provider_inferred=provider_inferred,
            model=model,
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=total,
            token_source=token_source,
            mismatched=mismatched,
            time_inferred=time_inferred,
            raw=raw,
            **fields,
        )
        if event.cost is None and self._cost_of is not None and token_source != "missing":
            cost = self._cost_of(event)
            if cost is not None:
                event.cost, event.cost_computed = cost, True
        return event

    def _provider_of(self, named: str | None, model: str) -> tuple[str, bool]:
        """Canonical provider, and whether it was inferred from the model (cached: both repeat)."""
        key = (named, model)
        known = self._providers.get(key)
        if known is None:
            if len(self._providers) >= _PROVIDER_CACHE:
                self._providers.clear()
            provider, inferred = canonical_provider(named or ""), False
            if provider == UNKNOWN and model != UNKNOWN:
                guessed = infer_provider(model)
                if guessed is not None:
                    provider, inferred = guessed, True
            known = self._providers[key] = (provider, inferred)
        return known


def redacted_line(line: bytes, record: Mapping[str, Any]) -> bytes:
    """The line as read, or re-encoded with credentials masked when it carries any (top level or in
    ``metadata``). Checking the decoded keys keeps the common, key-free line free of extra work."""
    # keys().isdisjoint iterates over the smaller side: the handful of secret names, not the record.
    metadata = record.get("metadata")
    if record.keys().isdisjoint(SECRET_FIELDS) and not (
        isinstance(metadata, Mapping) and not metadata.keys().isdisjoint(SECRET_FIELDS)
    ):
        return line
    cleaned = _mask(record)
    if isinstance(metadata, Mapping):
        cleaned["metadata"] = _mask(metadata)
    return orjson.dumps(cleaned)


def _mask(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k in SECRET_FIELDS and v else v) for k, v in record.items()}
