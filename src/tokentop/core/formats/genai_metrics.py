"""OpenTelemetry usage metrics -> UsageEvent fields: which metrics carry usage, what each token type
means, and how the per-series deltas of one export become events.

Metrics read (token types are attribute values; each becomes canonical counts as in docs/normalisation.md):

* ``gen_ai.client.token.usage`` -- histogram by ``gen_ai.token.type`` (``input``/``output``; the old
  ``prompt``/``completion`` too). Input includes cached input. The histogram's count is how many
  operations recorded input tokens: that is the one place metrics say how many requests there were.
* ``gen_ai.client.inference.usage.{input_tokens,output_tokens,cache_read.input_tokens,
  cache_write.input_tokens,reasoning.output_tokens}`` -- the draft counters (accepted, not relied on).
* ``claude_code.token.usage`` -- counter by ``type`` = ``input``/``output``/``cacheRead``/``cacheCreation``
  (Anthropic semantics: input excludes the cache, so cache reads and writes are added to it), and
  ``claude_code.cost.usage`` (USD). Claude Code prices its own usage: its token deltas are never priced
  from tokentop's table (their cost is the cost metric's, or 0 when it is absent from the export).
* ``gemini_cli.token.usage`` -- counter by ``type`` = ``input``/``output``/``thought``/``cache``/``tool``
  (Gemini semantics: input includes the cache; output excludes thoughts; tool-use prompts are input).
* ``codex.turn.token_usage`` -- histogram by ``token_type`` = ``input``/``cached_input``/``output``/
  ``reasoning_output`` (OpenAI semantics: both subsets included); ``total`` and ``non_cached_input``
  are derived from the others and skipped (``derived_total``). Its count is turns, not requests.

Every other metric's points are skips (``no_usage``). The points of one export that share a metric
family, a resource and their attributes but the token type are summed into one event, so that an
event's counts are consistent (cached within input) and priced once. Events from metrics name no
request (``request_id`` None) and count ``requests`` only from ``gen_ai.client.token.usage``'s count.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from tokentop.core.event import SkipRecord
from tokentop.core.fields import MAX_TOKENS
from tokentop.core.formats import Fields
from tokentop.core.formats.genai import DEFAULT_ATTRIBUTION, MODEL, PROVIDER, Attribution, first_text
from tokentop.core.metric_deltas import DEFAULT_WINDOW, SeriesDeltas

P, C = "prompt_tokens", "completion_tokens"
CACHED, WRITE, REASONING = "cached_tokens", "cache_write_tokens", "reasoning_tokens"


class Role(NamedTuple):
    family: str
    """Points of one family (and resource and attributes but the type) are summed into one event."""
    type_key: str | None
    fields: tuple[str, ...]
    """Event fields the point's delta adds to (``cost`` for money)."""
    requests: bool = False
    """The histogram's count is the number of requests."""


_GENAI = "gen_ai.client.token.usage"
_TYPED: Final[dict[str, tuple[str, str, dict[str, tuple[tuple[str, ...], bool]]]]] = {
    # metric -> (family, type attribute, {type value: (fields, counts requests)})
    _GENAI: ("gen_ai", "gen_ai.token.type", {
        "input": ((P,), True), "prompt": ((P,), True), "output": ((C,), False), "completion": ((C,), False)}),
    "claude_code.token.usage": ("claude_code", "type", {
        "input": ((P,), False), "output": ((C,), False), "cacheRead": ((P, CACHED), False),
        "cacheCreation": ((P, WRITE), False)}),
    "gemini_cli.token.usage": ("gemini_cli", "type", {
        "input": ((P,), False), "output": ((C,), False), "thought": ((C, REASONING), False),
        "cache": ((CACHED,), False), "tool": ((P,), False)}),
    "codex.turn.token_usage": ("codex", "token_type", {
        "input": ((P,), False), "cached_input": ((CACHED,), False), "output": ((C,), False),
        "reasoning_output": ((REASONING,), False), "cache_write_input": ((WRITE,), False)}),
}
_DERIVED: Final = frozenset({"total", "non_cached_input"})
_UNTYPED: Final[dict[str, Role]] = {
    "claude_code.cost.usage": Role("claude_code", None, ("cost",)),
    **{f"gen_ai.client.inference.usage.{suffix}": Role("gen_ai.inference", None, fields) for suffix, fields in (
        ("input_tokens", (P,)), ("output_tokens", (C,)), ("cache_read.input_tokens", (CACHED,)),
        ("cache_write.input_tokens", (WRITE,)), ("reasoning.output_tokens", (REASONING,)))},
}
USAGE_METRICS: Final = frozenset(_TYPED) | frozenset(_UNTYPED)
SELF_PRICED: Final = frozenset({"claude_code"})
"""Families that report their own cost: their token deltas are not priced from the table."""


def role_of(metric: str, attrs: Mapping[str, Any]) -> Role:
    """What a point of ``metric`` means; SkipRecord when it is not usage tokentop reads."""
    role = _UNTYPED.get(metric)
    if role is not None:
        return role
    typed = _TYPED.get(metric)
    if typed is None:
        raise SkipRecord("no_usage", f"metric {metric!r} is not a usage metric")
    family, type_key, types = typed
    kind = attrs.get(type_key)
    if kind is None and family == "codex":
        type_key, kind = "type", attrs.get("type")  # (older Codex builds)
    meaning = types.get(kind) if isinstance(kind, str) else None
    if meaning is None:
        if kind in _DERIVED:
            raise SkipRecord("derived_total", f"{metric} {type_key}={kind} is the sum of the other types")
        raise SkipRecord("unknown_token_type", f"{metric} {type_key}={str(kind)[:40]!r}")
    return Role(family, type_key, meaning[0], meaning[1])


@dataclass(slots=True)
class MetricPoint:
    """One data point reduced to plain values, whatever its encoding."""

    metric: str
    attrs: Mapping[str, Any]
    resource: Mapping[str, Any]
    resource_key: Hashable
    """The resource's identity (its attributes, hashable): series of different processes differ."""
    start_ns: int
    time_ns: int
    value: float
    """A sum's value, a histogram's sum."""
    count: int = 0
    """A histogram's count (0 for sums)."""
    cumulative: bool = True


class MetricUsage:
    """The usage in a receiver's metric points: per-series deltas (see core.metric_deltas), grouped."""

    def __init__(self, listening_since_ns: int, attribution: Attribution = DEFAULT_ATTRIBUTION,
                 window: int = DEFAULT_WINDOW) -> None:
        self.deltas = SeriesDeltas(listening_since_ns, window)
        self.attribution = attribution

    def parts(self, points: Iterable[MetricPoint]) -> list[Fields | SkipRecord]:
        """One field dict per group of points that added usage, and a SkipRecord per unusable point."""
        groups: dict[Hashable, Fields] = {}
        out: list[Fields | SkipRecord] = []
        for point in points:
            try:
                self._add(point, groups)
            except SkipRecord as problem:
                out.append(problem)
        out += groups.values()
        return out

    def _add(self, point: MetricPoint, groups: dict[Hashable, Fields]) -> None:
        role = role_of(point.metric, point.attrs)
        value, count = _checked(point, role)
        attrs = hashable(point.attrs)
        delta = self.deltas.delta((point.metric, point.resource_key, attrs), point.start_ns, point.time_ns,
                                  value, count, point.cumulative)
        if delta is None:
            return
        group_key = (role.family, point.resource_key, tuple(kv for kv in attrs if kv[0] != role.type_key))
        fields = groups.get(group_key)
        if fields is None:
            fields = groups[group_key] = self._fields(point, role)
        for name in role.fields:
            fields[name] = fields.get(name, 0) + (delta.value if name == "cost" else int(delta.value))
        if role.requests:
            fields["requests"] += delta.count
        if point.time_ns / 1e9 > fields["ts"]:
            fields["ts"] = point.time_ns / 1e9

    def _fields(self, point: MetricPoint, role: Role) -> Fields:
        attrs, resource = point.attrs, point.resource
        return {
            "ts": point.time_ns / 1e9,
            "provider": first_text(attrs, PROVIDER) or first_text(resource, PROVIDER),
            "model": first_text(attrs, MODEL) or first_text(attrs, ("model",)),
            "user": self.attribution.user_of(attrs, resource),
            "platform": self.attribution.platform_of(attrs, resource),
            "endpoint": role.family,
            "prompt_tokens": 0, "completion_tokens": 0,  # (0, not None: a cache-only delta is still usage)
            "token_source": "actual",
            "requests": 0,
            "format": "otlp.metrics",
            **({"cost": 0.0} if role.family in SELF_PRICED else {}),
        }


def _checked(point: MetricPoint, role: Role) -> tuple[float, int]:
    """The point's value and count, or SkipRecord when they cannot be usage."""
    value, count = point.value, point.count
    if not math.isfinite(value) or value < 0 or count < 0:
        raise SkipRecord("bad_value", f"{point.metric}={value!r} (count {count})")
    if role.fields != ("cost",) and (value != int(value) or value > MAX_TOKENS * max(count, 1) * 1000):
        raise SkipRecord("bad_value", f"{point.metric}={value!r} is not a whole number of tokens")
    if point.time_ns <= 0:
        raise SkipRecord("bad_time", f"{point.metric} point without a time")
    return value, count


def hashable(attrs: Mapping[str, Any]) -> tuple[tuple[str, Hashable], ...]:
    """Attributes as a sorted tuple of pairs (arrays as tuples): a series' identity."""
    return tuple(sorted((k, _frozen(v)) for k, v in attrs.items()))


def _frozen(value: Any) -> Hashable:
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value
