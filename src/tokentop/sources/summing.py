"""History summed by the database: grouped SQL over a usage table, and its groups turned into summaries.

A table whose columns a :class:`SumSpec` describes is summed per family of cells (``by_key``: provider,
model, platform; ``by_user``: user) and per span (:class:`~tokentop.core.summaries.SpanPlan`), grouped
also by every raw value a row's normalisation branches on: the provider and model as written, the
token source, status and error, the cache flag, whether the usage is missing, whether the total
mismatches, whether the cost is stated. Each group is then normalised once, with the same rules as a
row: a *representative record* holding the group's raw labels (and usage present or not) is read by
the source's own Normaliser, which gives the provider (aliases, inference), model, platform, user,
token source, error and cache flags; the counts are the group's sums of the values the format reads
(the spec's SQL says how a format reads them: NULL counts as 0, a missing total as prompt +
completion, missing usage as zero). A cost the table does not state is priced on the group's sums,
with the uncached prompt summed per row (the price table clamps it at zero per request).

Rows the sums cannot stand for exactly (a NULL or out-of-range time, a negative or absurd count or
cost) are left out of the sums (``SumSpec.odd``) and read one by one, so they give the same events or
counted skips as ever. ``tests/sources/test_pg_summed.py`` compares the sums with row-by-row reading of
the same tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from tokentop.core.cells import ANY, KEY_FAMILY, NO_TAG, USER_FAMILY, Key
from tokentop.core.counts import Counts
from tokentop.core.event import UNKNOWN, SkipRecord, UsageEvent
from tokentop.core.normalise import CostFunction, Normaliser
from tokentop.core.summaries import SpanPlan, Summary

Path = tuple[str, ...]
"""Where a label goes in the representative record: ``("metadata", "platform")``."""
COUNT_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "cache_write_tokens",
                "reasoning_tokens")
KEY, USER, BOTH, PRICE = "key", "user", "both", "price"
"""Which family groups by a label (``price``: the key family, and the user family when the cost is
computed from the price table, which needs the provider and model)."""


@dataclass(frozen=True, slots=True)
class Label:
    path: Path
    sql: str
    family: str


@dataclass(frozen=True, slots=True)
class SumSpec:
    """How to sum one table: SQL expressions of what its format reads."""

    time: str
    """The request time (timestamp or timestamptz)."""
    time_key: str
    """Where the representative record carries its time."""
    labels: tuple[Label, ...]
    counts: Mapping[str, str]
    """Canonical count -> SQL of the count as the format reads it for a request with usage."""
    missing: str
    """SQL predicate: the format says this request's usage is missing."""
    zeroed_when_missing: tuple[str, ...]
    """Counts the format drops when the usage is missing."""
    mismatched: str
    cost: str | None
    """SQL of the stated cost (None: the table states none)."""
    odd: str
    """SQL predicate: a row to read one by one instead."""
    base: Mapping[str, Any] = field(default_factory=dict)
    """Keys every representative record has (a format may detect on them)."""

    def uncached(self) -> str:
        """Per row: the prompt the price table charges at the input price (never below zero)."""
        c = self.counts
        return (f"greatest(({c.get('prompt_tokens', '0')}) - ({c.get('cached_tokens', '0')})"
                f" - ({c.get('cache_write_tokens', '0')}), 0)")


@dataclass(frozen=True, slots=True)
class GroupedQuery:
    family: str
    sql: str
    labels: tuple[Label, ...]


def grouped_queries(spec: SumSpec, table: str, where: str) -> list[GroupedQuery]:
    """One grouped query per family. Parameters: ``minute_edge``, ``hour_edge`` (timestamps) and
    ``bounds`` (timestamptz[]); ``where`` restricts the rows summed (the cut, a time filter)."""
    ts = spec.time
    slot = (f"CASE WHEN {ts} >= %(minute_edge)s THEN date_trunc('minute', {ts})"
            f" WHEN {ts} >= %(hour_edge)s THEN date_trunc('hour', {ts}) END")
    seg = f"width_bucket(({ts})::timestamptz, %(bounds)s::timestamptz[])"
    cost_null = "TRUE" if spec.cost is None else f"({spec.cost}) IS NULL"
    out = []
    for family in (KEY_FAMILY, USER_FAMILY):
        wanted = (KEY, BOTH, PRICE) if family == KEY_FAMILY else (USER, BOTH, PRICE)
        labels = tuple(label for label in spec.labels if label.family in wanted)
        exprs = [label.sql if label.family != PRICE or family == KEY_FAMILY or spec.cost is None
                 else f"CASE WHEN {cost_null} THEN {label.sql} END" for label in labels]
        keys = [slot, seg, *exprs, f"({spec.missing})", f"({spec.mismatched}) AND NOT ({spec.missing})", cost_null]
        sums = []
        for name in COUNT_FIELDS:
            expr = spec.counts.get(name)
            if expr is None:
                sums.append("0")
            elif name in spec.zeroed_when_missing:
                sums.append(f"sum(CASE WHEN {spec.missing} THEN 0 ELSE {expr} END)")
            else:
                sums.append(f"sum({expr})")
        sums.append("sum(" + spec.cost + ")::float8" if spec.cost is not None else "NULL::float8")
        sums.append(f"sum(CASE WHEN {cost_null} AND NOT ({spec.missing}) THEN {spec.uncached()} END)")
        select = ", ".join(keys + ["count(*)", *sums, f"min({ts})", f"max({ts})"])
        group = ", ".join(str(i + 1) for i in range(len(keys)))
        sql = f"SELECT {select} FROM {table} WHERE NOT ({spec.odd}) AND {where} GROUP BY {group}"
        out.append(GroupedQuery(family, sql, labels))
    return out


def span_parameters(plan: SpanPlan) -> dict[str, Any]:
    return {"minute_edge": _datetime(plan.minute_edge), "hour_edge": _datetime(plan.hour_edge),
            "bounds": [_datetime(b) for b in plan.boundaries]}


def _datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def epoch(value: datetime) -> float:
    """A fetched timestamp as epoch seconds (a timestamp without time zone is UTC, as parse_time reads it)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


class GroupReader:
    """Turns the rows of grouped queries into summaries, normalising each group key once."""

    def __init__(self, spec: SumSpec, normaliser: Normaliser, cost_of: CostFunction | None, source: str,
                 skip: Callable[[SkipRecord], None]) -> None:
        self.spec, self.normaliser, self.cost_of, self.source, self.skip = spec, normaliser, cost_of, source, skip
        self._events: dict[tuple[Any, ...], UsageEvent | SkipRecord] = {}

    def summaries(self, query: GroupedQuery, rows: Sequence[Sequence[Any]]) -> list[Summary]:
        out = []
        n_labels = len(query.labels)
        for row in rows:
            labels = tuple(row[2:2 + n_labels])
            missing, mismatched, cost_null = row[2 + n_labels:5 + n_labels]
            rest = row[5 + n_labels:]
            event = self._representative(query.labels, labels, bool(missing))
            if isinstance(event, SkipRecord):  # the normaliser refuses these labels: each row is a skip
                if query.family == KEY_FAMILY:
                    for _ in range(int(rest[0])):
                        self.skip(event)
                continue
            out.append(Summary(query.family, self._key(query.family, event),
                               self._counts(event, rest, bool(mismatched), bool(cost_null))))
        return out

    def _representative(self, labels: tuple[Label, ...], values: tuple[Any, ...], missing: bool
                        ) -> UsageEvent | SkipRecord:
        """The event the group's raw labels make (once per distinct key), or why they cannot make one."""
        cache_key = (labels, values, missing)
        if cache_key in self._events:
            return self._events[cache_key]
        record: dict[str, Any] = dict(self.spec.base)
        for label, value in zip(labels, values):
            node = record
            for part in label.path[:-1]:
                node = node.setdefault(part, {})
            node[label.path[-1]] = value
        record[self.spec.time_key] = 0.0  # (any valid time: the group's own times are its min and max)
        if not missing:
            record.update(prompt_tokens=1, completion_tokens=1, total_tokens=2)
        event: UsageEvent | SkipRecord | None
        try:
            event = self.normaliser.from_record(record, 0.0)
        except SkipRecord as problem:
            event = problem
        if event is None:
            event = SkipRecord("absorbed", "the format keeps no event for these labels")
        self._events[cache_key] = event
        return event

    def _key(self, family: str, e: UsageEvent) -> Key:
        if family == KEY_FAMILY:
            return (self.source, e.provider, e.model, ANY, e.platform or NO_TAG)
        return (self.source, ANY, ANY, e.user or UNKNOWN, ANY)

    def _counts(self, e: UsageEvent, sums: Sequence[Any], mismatched: bool, cost_null: bool) -> Counts:
        n = int(sums[0])
        prompt, completion, total, cached, write, reasoning = (int(v or 0) for v in sums[1:7])
        stated, uncached, first, last = sums[7], sums[8], sums[9], sums[10]
        cost = 0.0
        if not cost_null:
            cost = float(stated or 0.0)
        elif self.cost_of is not None and e.token_source != "missing":
            priced = self.cost_of(_priced(e, int(uncached or 0) + cached + write, completion, cached, write))
            cost = priced or 0.0
        source = e.token_source
        return Counts(
            requests=n, prompt_tokens=prompt, completion_tokens=completion, total_tokens=total,
            cached_tokens=cached, cache_write_tokens=write, reasoning_tokens=reasoning,
            actual=n if source == "actual" else 0, estimated=n if source == "estimated" else 0,
            missing=n if source == "missing" else 0, mismatched=n if mismatched else 0,
            errors=n if e.is_error else 0, cache_hits=n if e.cache_hit else 0, cost=cost,
            first_ts=epoch(first), last_ts=epoch(last))


def _priced(e: UsageEvent, prompt: int, completion: int, cached: int, write: int) -> UsageEvent:
    """The representative event with a group's sums, for the price table (prompt = uncached + cached +
    cache writes, so that the per-request clamp summed in SQL is what is charged)."""
    return UsageEvent(e.ts, e.source, provider=e.provider, model=e.model, prompt_tokens=prompt,
                      completion_tokens=completion, cached_tokens=cached, cache_write_tokens=write,
                      token_source=e.token_source)
