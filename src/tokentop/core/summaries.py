"""History summed before it reaches the aggregator: a source that can ask a database for grouped sums
hands over one :class:`Summary` per cell instead of one event per row.

A summary is the requests of one family's key (see :mod:`cells`) in one *span*, summed: counted where
row-by-row ingestion would have counted each of its requests. That holds when a span never crosses a
boundary the aggregator keeps apart, which :class:`SpanPlan` tells a source before it groups:

* requests from ``minute_edge`` on: one minute (minute cells are kept for them);
* from ``hour_edge`` to ``minute_edge``: one hour (hour cells are kept for them);
* before ``hour_edge``: only the all-time and billing-period cells will hold them, so any span will do
  that stays inside one billing period -- and inside one calendar period of every plan, since users
  whose plan period differs from the billing period keep their own tallies.

Hours are further split at every period boundary (a period may start at 18:30 UTC), so a span is
always inside one billing period and one period of each plan. :func:`add_summaries` then counts each
summary as add_many would count its requests one by one (tests compare the two on the same rows).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Final

import msgspec

from tokentop.core.buckets import MINUTE_RETENTION
from tokentop.core.cells import KEY_FAMILY, USER, USER_FAMILY, Cells, Key
from tokentop.core.counts import Counts
from tokentop.core.periods import Period
from tokentop.core.plans import PlanBook

if TYPE_CHECKING:
    from tokentop.core.aggregate import Aggregator

RECENT_ROWS: Final = 1000
"""Rows a summing source still fetches one by one at the newest end: the aggregator's ring of recent
requests (and the rules that sample it) needs real events."""
_FIRST_TS = attrgetter("counts.first_ts")


class Summary(msgspec.Struct, gc=False):
    """The requests of one cell key in one span, summed (``counts.first_ts``/``last_ts`` bound the span)."""

    family: str
    """``by_key`` or ``by_user`` (a request is summed once in each family)."""
    key: Key
    counts: Counts


def hour_retention(plans: PlanBook, base: int = 25) -> int:
    """Hours of hour cells kept: a day and one, or a rolling plan's span and one."""
    return max([base, *(p.period.hours + 1 for p in plans.plans.values() if p.period.kind == "rolling")])


def calendar_periods(plans: PlanBook) -> list[Period]:
    """The billing period and every plan's calendar period (rolling plans have no boundaries)."""
    periods = [plans.billing_period]
    periods += [p.period for p in plans.plans.values() if p.period.kind != "rolling" and p.period not in periods]
    return periods


@dataclass(frozen=True, slots=True)
class SpanPlan:
    """Where a source must split history so that summed spans land in the cells rows would fill."""

    minute_edge: float
    """Requests from here on are summed per minute."""
    hour_edge: float
    """... from here to ``minute_edge`` per hour; before it per period segment."""
    boundaries: tuple[float, ...]
    """Period starts between the oldest and the newest request, ascending: no span crosses one."""

    @classmethod
    def make(cls, plans: PlanBook, oldest: float, newest: float, now: float | None,
             retention: int | None = None) -> SpanPlan:
        """The plan for requests from ``oldest`` to ``newest`` read at ``now`` (the aggregator's clock;
        None when it has none), for an aggregator of these plans."""
        hours = hour_retention(plans) if retention is None else retention
        top = newest if now is None else max(newest, now)
        minute_edge = (math.floor(top / 60) - MINUTE_RETENTION) * 60.0
        hour_edge = (math.floor(newest / 3600) - hours) * 3600.0
        return cls(minute_edge, min(hour_edge, minute_edge), period_boundaries(plans, oldest, newest))


def period_boundaries(plans: PlanBook, oldest: float, newest: float) -> tuple[float, ...]:
    """Every period start in ``(oldest, newest]`` of the billing period and the plans' periods."""
    found: set[float] = set()
    for period in calendar_periods(plans):
        end = period.bounds(oldest)[1]
        while end <= newest:
            found.add(end)
            end = period.bounds(end)[1]
    return tuple(sorted(found))


def add_summaries(agg: Aggregator, summaries: Iterable[Summary]) -> None:
    """Count summaries into ``agg`` where row-by-row ingestion would have counted their requests
    (oldest first, as a backfill's rows arrive; see ``Aggregator.add_many``)."""
    if agg.clock is not None:
        agg._raise_floor(int(agg.clock() // 60) - MINUTE_RETENTION)
    latest, events = agg.latest_ts, 0
    known, admit = agg.keycap.known, agg.keycap.admit
    for summary in sorted(summaries, key=_FIRST_TS):
        counts, family, key = summary.counts, summary.family, summary.key
        if key not in known:  # the key cap, as for events (tokentop.core.keycap)
            key = admit(key, counts.total_tokens)
        ts = counts.first_ts
        bucket, lo, _ = agg._hour = agg._hour_bucket(ts)
        Cells.cell(bucket.family(family), key).merge(counts)
        minute = int(ts // 60)
        if minute >= agg.minute_floor:
            minute_cells = agg.minutes.get(minute)
            if minute_cells is None:
                minute_cells = agg._new_minute(minute)
            Cells.cell(minute_cells.family(family), key).merge(counts)
        if bucket.folded:  # a closed hour: the merged cells need it too
            start = agg.billing_period.bounds(lo)[0]
            for cells in (agg.total, agg.periods.setdefault(start, Cells())):
                Cells.cell(cells.family(family), key).merge(counts)
        if family == USER_FAMILY:
            if agg._separate_periods:
                agg._tally_own_period(key[USER], ts, key[0], counts.total_tokens)
        else:
            events += counts.requests
        if counts.last_ts > latest:
            latest = counts.last_ts
    agg.events += events
    agg.latest_ts = latest
    if agg.keycap.overfull():
        agg.fold_keys()


def summed_requests(summaries: Sequence[Summary]) -> int:
    """Requests in a list of summaries (each request is in one summary of each family)."""
    return sum(s.counts.requests for s in summaries if s.family == KEY_FAMILY)
