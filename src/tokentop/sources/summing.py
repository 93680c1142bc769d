"""History summed by a database: one grouped scan of a usage table, its groups turned into summaries.

A table whose columns a :class:`SumSpec` describes is scanned **once**, grouped on the raw values a
row's normalisation branches on -- the labels as stored (provider and model as written, user, token
source, status, error, cache flag, platform), whether the usage is missing, whether the total
mismatches, whether the cost is stated, whether the row is *odd* -- and on the span it falls in
(:class:`~tokentop.core.summaries.SpanPlan`: a minute, an hour, or a period segment). The database
only compares and adds: no text is built per row, no label is rewritten in SQL, and the plan is one
hash aggregate that PostgreSQL may run with parallel workers.

Each group is then normalised once in Python, with the same rules as a row: a *representative record*
holding the group's raw labels (and usage present or not) is read by the source's own Normaliser,
which gives the provider (aliases, inference), model, platform, user, token source, error and cache
flags; the counts are the group's sums of the values the format reads (the spec's SQL says how a
format reads them: NULL counts as 0, a missing total as prompt + completion; counts the format drops
when the usage is missing are zeroed per group, since "missing" is part of the group key). Groups
whose keys normalise alike are merged into one summary per cell key and span, for both families of
cells (``by_key`` and ``by_user``). A cost the table does not state is priced on each group's sums,
with the uncached prompt summed per row (the price table clamps it at zero per request).

Rows the sums cannot stand for exactly (a NULL or out-of-range time, a negative or absurd count or
cost) are counted in groups of their own and left out; only when there are any are they read one by
one (a second scan), so they give the same events or counted skips as ever. The SQL differs between
databases only in a few spellings (:class:`Dialect`). ``tests/sources/test_pg_summed.py`` and
``tests/sources/test_ledger_summed.py`` compare the sums with row-by-row reading of the same tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from tokentop.core.cells import ANY, KEY_FAMILY, NO_TAG, USER_FAMILY, Key
from tokentop.core.counts import COST_UNITS, Counts
from tokentop.core.event import UNKNOWN, SkipRecord, UsageEvent
from tokentop.core.normalise import CostFunction, Normaliser
from tokentop.core.summaries import SpanPlan, Summary

Path = tuple[str, ...]
"""Where a label goes in the representative record: ``("metadata", "platform")``."""
COUNT_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "cache_write_tokens",
                "reasoning_tokens")


@dataclass(frozen=True, slots=True)
class Label:
    """A raw value normalisation reads: grouped on as stored, handed to the format as ``text`` says."""

    path: Path
    sql: str
    text: bool = False
    """Handed over as text (a uuid, an enum): grouped on the stored value, converted once per group."""


@dataclass(frozen=True, slots=True)
class SumSpec:
    """How to sum one table: SQL expressions of what its format reads."""

    time: str
    """The request time (a timestamp in PostgreSQL, epoch seconds in SQLite)."""
    time_key: str
    """Where the representative record carries its time."""
    labels: tuple[Label, ...]
    counts: Mapping[str, str]
    """Canonical count -> SQL of the count as the format reads it for a request with usage (a NULL is
    read as 0: it is summed as nothing)."""
    missing: str
    """SQL predicate: the format says this request's usage is missing."""
    zeroed_when_missing: tuple[str, ...]
    """Counts the format drops when the usage is missing."""
    mismatched: str
    cost: str | None
    """SQL of the stated cost (None: the table states none)."""
    odd: str
    """SQL predicate, never NULL: a row to read one by one instead."""
    base: Mapping[str, Any] = field(default_factory=dict)
    """Keys every representative record has (a format may detect on them)."""


class Dialect(Protocol):
    """The spellings that differ between databases."""

    def slot(self, ts: str) -> str:
        """SQL: the start of the minute (from ``minute_edge``) or hour (from ``hour_edge``) of ``ts``; NULL before."""
        ...

    def segment(self, ts: str, plan: SpanPlan) -> str:
        """SQL: which period segment ``ts`` falls in (the plan's boundaries)."""
        ...

    def text(self, expr: str) -> str: ...

    def greatest0(self, expr: str) -> str:
        """SQL: ``expr``, never below zero."""
        ...

    def real(self, expr: str) -> str: ...

    def time_out(self, expr: str) -> str:
        """SQL of a group's time (its span, its first and last request) as fetched: what ``epoch`` reads."""
        ...

    def shape(self, ts: str) -> list[str]:
        """SQL: further group keys the times need (none in PostgreSQL)."""
        ...

    def valid(self, shape: tuple[Any, ...]) -> bool:
        """Whether a group of this shape can be summed (else its rows are read one by one)."""
        ...

    def invalid(self, ts: str, shapes: list[tuple[Any, ...]]) -> str:
        """SQL: the rows of the groups :meth:`valid` refused."""
        ...

    def parameters(self, plan: SpanPlan) -> dict[str, Any]: ...

    def epoch(self, value: Any) -> float:
        """A fetched time (min/max of ``SumSpec.time``) as epoch seconds."""
        ...


@dataclass(frozen=True, slots=True)
class GroupedQuery:
    head: str
    """``SELECT ... FROM table``."""
    where: str
    group: str

    def sql(self, extra: str = "TRUE") -> str:
        """The query, its rows further restricted by ``extra``."""
        return f"{self.head} WHERE {extra} AND {self.where} GROUP BY {self.group}"


_CONSTANTS = frozenset({"TRUE", "FALSE", "0", "(FALSE)"})
"""Group keys a dialect or spec may spell as a constant: not grouped on (SQL reads a number as a position)."""
_FLAGS = 6
"""Group-key columns before the shape and the labels: slot, segment, odd, missing, mismatched, cost stated."""


def grouped_query(spec: SumSpec, table: str, where: str, dialect: Dialect, plan: SpanPlan) -> GroupedQuery:
    """The one grouped scan (``where`` restricts the rows summed: the cut, a time filter)."""
    ts, c = spec.time, spec.counts
    cost_null = "TRUE" if spec.cost is None else f"({spec.cost}) IS NULL"
    keys = [dialect.slot(ts), dialect.segment(ts, plan), f"({spec.odd})", f"({spec.missing})",
            f"coalesce(({spec.mismatched}), FALSE)", cost_null, *dialect.shape(ts)]
    shown = [dialect.time_out(keys[0]), *keys[1:]] + [dialect.text(label.sql) if label.text else label.sql
                                                       for label in spec.labels]
    grouped = [k for k in keys if k not in _CONSTANTS] + [label.sql for label in spec.labels]
    sums = [f"sum({c[name]})" if name in c else "0" for name in COUNT_FIELDS]
    sums.append(f"sum({dialect.real(spec.cost)})" if spec.cost is not None else "NULL")
    if "cached_tokens" in c or "cache_write_tokens" in c:
        cached = " - ".join(c[n] for n in ("prompt_tokens", "cached_tokens", "cache_write_tokens") if n in c)
        sums.append(f"sum({dialect.greatest0(cached)})")
    else:
        sums.append("NULL")  # the uncached prompt is the prompt
    select = ", ".join([*shown, "count(*)", *sums, dialect.time_out(f"min({ts})"), dialect.time_out(f"max({ts})")])
    return GroupedQuery(f"SELECT {select} FROM {table}", where, ", ".join(grouped))


class GroupReader:
    """Turns the rows of the grouped scan into summaries, normalising each distinct group key once."""

    def __init__(self, spec: SumSpec, normaliser: Normaliser, cost_of: CostFunction | None, source: str,
                 skip: Callable[[SkipRecord], None], dialect: Dialect) -> None:
        self.spec, self.normaliser, self.cost_of, self.source, self.skip = spec, normaliser, cost_of, source, skip
        self.dialect = dialect
        self.odd_rows = 0
        """Rows left out of the sums (to be read one by one)."""
        self.refused: list[tuple[Any, ...]] = []
        """Shapes of groups the dialect refused (their rows are among ``odd_rows``)."""
        self._shape = len(dialect.shape("t"))
        self._events: dict[tuple[Any, ...], tuple[UsageEvent | SkipRecord, Key, Key]] = {}
        self._summaries: dict[tuple[Any, ...], Counts] = {}

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        """Fold grouped rows in (as they stream)."""
        labels = self.spec.labels
        first = _FLAGS + self._shape
        n_labels = len(labels)
        merged = self._summaries
        for row in rows:
            slot, segment, odd, missing, mismatched, cost_null = row[:_FLAGS]
            n = row[first + n_labels]
            if odd:
                self.odd_rows += n
                continue
            if first > _FLAGS and not self.dialect.valid(shape := tuple(row[_FLAGS:first])):
                self.odd_rows += n
                self.refused.append(shape)
                continue
            event, key, user_key = self._representative(labels, tuple(row[first:first + n_labels]), missing)
            if isinstance(event, SkipRecord):  # the normaliser refuses these labels: each row is a skip
                for _ in range(int(n)):
                    self.skip(event)
                continue
            counts = self._counts(event, row[first + n_labels:], missing, mismatched, cost_null)
            for family, cell_key in ((KEY_FAMILY, key), (USER_FAMILY, user_key)):
                span = (family, cell_key, slot, segment)
                found = merged.get(span)
                if found is None:
                    merged[span] = counts if family == KEY_FAMILY else msgspec.structs.replace(counts)
                else:
                    found.merge(counts)

    def summaries(self) -> list[Summary]:
        return [Summary(family, key, counts) for (family, key, _, _), counts in self._summaries.items()]

    def _representative(self, labels: tuple[Label, ...], values: tuple[Any, ...], missing: bool
                        ) -> tuple[UsageEvent | SkipRecord, Key, Key]:
        """The event the group's raw labels make (once per distinct key) and its two cell keys."""
        cache_key = (values, missing)
        found = self._events.get(cache_key)
        if found is not None:
            return found
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
        if isinstance(event, SkipRecord):
            keys: tuple[Key, Key] = ((), ())
        else:
            keys = ((self.source, event.provider, event.model, ANY, event.platform or NO_TAG),
                    (self.source, ANY, ANY, event.user or UNKNOWN, ANY))
        found = self._events[cache_key] = (event, *keys)
        return found

    def _counts(self, e: UsageEvent, sums: Sequence[Any], missing: bool, mismatched: bool, cost_null: bool) -> Counts:
        n = int(sums[0])
        prompt, completion, total, cached, write, reasoning = (int(v) if v else 0 for v in sums[1:7])
        if missing:
            zeroed = self.spec.zeroed_when_missing
            prompt, completion, total, cached, write, reasoning = (
                0 if name in zeroed else v for name, v in zip(COUNT_FIELDS, (prompt, completion, total, cached,
                                                                             write, reasoning)))
        stated, uncached = sums[7], sums[8]
        cost = 0.0
        if not cost_null:
            cost = float(stated or 0.0)
        elif self.cost_of is not None and e.token_source != "missing":
            uncached = prompt if uncached is None else int(uncached)
            cost = self.cost_of(_priced(e, uncached + cached + write, completion, cached, write)) or 0.0
        source = e.token_source
        epoch = self.dialect.epoch
        return Counts(
            requests=n, prompt_tokens=prompt, completion_tokens=completion, total_tokens=total,
            cached_tokens=cached, cache_write_tokens=write, reasoning_tokens=reasoning,
            actual=n if source == "actual" else 0, estimated=n if source == "estimated" else 0,
            missing=n if source == "missing" else 0, mismatched=n if mismatched and not missing else 0,
            errors=n if e.is_error else 0, cache_hits=n if e.cache_hit else 0, cost_units=round(cost * COST_UNITS),
            first_ts=epoch(sums[9]), last_ts=epoch(sums[10]))


def _priced(e: UsageEvent, prompt: int, completion: int, cached: int, write: int) -> UsageEvent:
    """The representative event with a group's sums, for the price table (prompt = uncached + cached +
    cache writes, so that the per-request clamp summed in SQL is what is charged)."""
    return UsageEvent(e.ts, e.source, provider=e.provider, model=e.model, prompt_tokens=prompt,
                      completion_tokens=completion, cached_tokens=cached, cache_write_tokens=write,
                      token_source=e.token_source)


def any_of(predicates: Sequence[str]) -> str:
    """SQL true when any predicate is, never NULL (a NULL count is not odd)."""
    return f"coalesce({' OR '.join(f'({p})' for p in predicates)}, FALSE)" if predicates else "FALSE"
