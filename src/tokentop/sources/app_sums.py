"""The summing spec of a usage table the ``app`` format reads, for any database: which columns are the
time, the counts, the cost and the labels (the format's own spellings, so a table is summed by the same
rules its rows are read by), and which rows are odd. What differs between databases -- which column
types can be summed, how a value is checked, how a JSON member is read -- is a :class:`TableSql`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from tokentop.core.fields import MAX_TOKENS
from tokentop.core.formats import app
from tokentop.sources.summing import Label, SumSpec, any_of

DECLINES: tuple[str, ...] = (*app.USAGE_OBJECTS, "prompt_tokens_details", "completion_tokens_details")
"""Columns holding usage objects: the format reads counts from them, so such a table is read by rows."""
LABELS = (app.USER, app.PROVIDER, app.MODEL, app.TOKEN_SOURCE, app.CACHE_HIT, ("status", "error"), ("platform",))


class TableSql(Protocol):
    """A database's side of summing a table: column types (as its catalog spells them) and SQL."""

    def quote(self, name: str) -> str: ...

    def summable(self, role: str, kind: str) -> bool:
        """Whether a column of type ``kind`` can be summed as ``role`` (time, count, cost, json)."""
        ...

    def odd_time(self, ts: str) -> list[str]:
        """Predicates: the time cannot be summed (the row is read one by one)."""
        ...

    def odd_count(self, expr: str) -> list[str]: ...

    def odd_cost(self, expr: str) -> list[str]: ...

    def label(self, path: tuple[str, ...], column: str, kind: str) -> tuple[Label, list[str]]:
        """A label column, and the predicates of values it cannot group on."""
        ...

    def json_member(self, column: str, path: tuple[str, ...]) -> tuple[Label, list[str]]: ...

    def wide(self, expr: str) -> str:
        """``expr`` in an integer type wide enough to add counts."""
        ...


def app_spec(columns: Mapping[str, str], sql: TableSql) -> SumSpec | None:
    """The spec of a table (column -> type) the ``app`` format reads, or None: read by rows."""
    q = sql.quote
    times = [c for c in app.TIME if c in columns]
    if not times or not sql.summable("time", columns[times[0]]) or any(c in columns for c in DECLINES):
        return None
    counts: dict[str, str] = {}
    odd = sql.odd_time(q(times[0]))
    for name, spellings in app.COUNTS.items():
        present = [c for c in spellings if c in columns]
        if not all(sql.summable("count", columns[c]) for c in present):
            return None
        for c in present:
            odd += sql.odd_count(q(c))
        if present:
            counts[name] = q(present[0]) if len(present) == 1 else f"coalesce({', '.join(map(q, present))})"
    costs = [c for c in app.COST if c in columns]
    if not all(sql.summable("cost", columns[c]) for c in costs):
        return None
    cost = (q(costs[0]) if len(costs) == 1 else f"coalesce({', '.join(map(q, costs))})") if costs else None
    if cost:
        odd += sql.odd_cost(cost)
    labels = []
    for spellings in LABELS:
        for c in spellings:
            if c in columns:
                found, problems = sql.label((c,), c, columns[c])
                labels.append(found)
                odd += problems
    if "metadata" in columns and sql.summable("json", columns["metadata"]):
        found, problems = sql.json_member("metadata", ("platform",))
        labels.append(found)
        odd += problems
    p, c, t = (counts.get(n, "NULL") for n in ("prompt_tokens", "completion_tokens", "total_tokens"))
    return SumSpec(
        time=q(times[0]), time_key=times[0], labels=tuple(labels),
        counts={"prompt_tokens": counts.get("prompt_tokens", "0"), "completion_tokens": counts.get("completion_tokens", "0"),
                "total_tokens": f"coalesce({t}, coalesce({p}, 0) + coalesce({c}, 0))",
                **{n: e for n, e in counts.items() if n in ("cached_tokens", "cache_write_tokens", "reasoning_tokens")}},
        missing=f"{p} IS NULL AND {c} IS NULL AND {t} IS NULL",
        zeroed_when_missing=("prompt_tokens", "completion_tokens", "total_tokens"),
        mismatched=f"{p} IS NOT NULL AND {c} IS NOT NULL AND {t} IS NOT NULL AND abs({sql.wide(t)} - {p} - {c}) > 1",
        cost=cost, odd=any_of(odd))


def count_range(expr: str) -> str:
    """SQL: a count the format refuses (negative or absurd)."""
    return f"{expr} < 0 OR {expr} > {MAX_TOKENS}"
