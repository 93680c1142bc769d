"""Users' standings against their limits, with the usage counters of the watched system itself.

A usage endpoint reports a user's usage this period (``tokensUsed``, this month's tally) and often
the limit: one reading is enough to place the user on their gauge, before any usage was recorded by
tokentop (the first reading is only a baseline for the counter's growth). The gauge shows the larger
of the counter and what the counted sources recorded for the user this period: a counter that missed
usage (seed 000) is not believed over the logs, and logs that started mid-period do not hide what the
counter already holds. A reading from an earlier period, or one whose system says its counter still
counts from an earlier period (a missed reset, see the ``counter_drift`` rule), does not raise the
gauge. Readings of reference sources are compared (``counter_drift``), never gauged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tokentop.core.aggregate import Aggregator
from tokentop.core.event import CounterReading
from tokentop.core.periods import Period
from tokentop.core.plans import PlanBook, Standing

Sources = Callable[[str], bool] | None
SLACK = 86400.0
"""A counter that says it counts from up to a day before the period start is this period's (the
system's months may follow another time zone than the billing period)."""


def standings(agg: Aggregator, now: float, sources: Sources = None) -> dict[str, Standing]:
    """``agg.standings`` with each user's latest counter reading taken into account: every user a
    counted counter reports has a standing, raised to the counter's count of this period."""
    out = agg.standings(now, sources)
    for user, reading in latest_readings(agg.readings.items(), sources):
        period = period_of(agg.plans, user, reading)
        start, end = period.bounds(now)
        known = out.get(user)
        if known is None:
            plan = agg.plans.plan_for(user)
            known = Standing(reading.plan or (plan.name if plan else None), plan.limit if plan else None, 0,
                             start, end, 0.0)
        counted = period_tokens_of(reading, start) if reading.at >= start else None
        out[user] = Standing(known.plan or reading.plan, known.limit if known.limit is not None else reading.limit,
                             max(known.period_tokens, counted or 0), known.period_start, known.period_end,
                             known.burn_rate_per_hour)
    return dict(sorted(out.items()))


def latest_readings(histories: Iterable[tuple[tuple[str, str], Iterable[CounterReading]]],
                    sources: Sources) -> list[tuple[str, CounterReading]]:
    """Each counted counter's latest reading with a period count (else its latest), by user."""
    out = []
    for (source, user), history in histories:
        if sources is not None and not sources(source):
            continue
        readings = list(history)
        reading = next((r for r in reversed(readings) if r.period_tokens is not None), readings[-1] if readings else None)
        if reading is not None:
            out.append((user, reading))
    return out


def period_tokens_of(reading: CounterReading, period_start: float) -> int | None:
    """The reading's period count if it counts this period (not a counter still on an earlier one)."""
    if reading.period_start is not None and reading.period_start < period_start - SLACK:
        return None
    return reading.period_tokens


def period_of(plans: PlanBook, user: str, reading: CounterReading) -> Period:
    """The period a user's counter resets on: the reported plan's, else the user's configured plan's,
    else the billing period."""
    plan = plans.plans.get(reading.plan) if reading.plan else None
    plan = plan or plans.plan_for(user)
    return plan.period if plan else plans.billing_period
