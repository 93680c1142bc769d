"""``counter_drift``: a usage counter kept by the watched system (a per-user usage endpoint) that
disagrees with the requests recorded elsewhere, goes backwards, or does not reset when its period ends.

Works on the :class:`CounterReading` history the aggregator keeps per (source, user).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from tokentop.core.cells import SOURCE, USER, USER_FAMILY
from tokentop.core.alerts.model import Finding, Situation, subject
from tokentop.core.alerts.windows import counter_sources, source_profiles
from tokentop.core.gauges import period_of, period_tokens_of
from tokentop.core.event import UNKNOWN, CounterReading
from tokentop.core.numbers import count, duration
from tokentop.core.periods import Period

Settings = Mapping[str, Any]
RULE = "counter_drift"


def counter_drift(s: Situation, cfg: Settings) -> list[Finding]:
    findings: list[Finding] = []
    for (source, user), history in sorted(s.agg.readings.items()):
        readings = list(history)
        if not readings:
            continue
        period = period_of(s.agg.plans, user, readings[-1])
        # A counter read once already says something: that it still counts an earlier period, or
        # that it holds more (or less) than the other sources recorded for the user this period.
        problems = [_went_backwards(s, readings, period, cfg),
                    _did_not_reset(s, readings, period, cfg) or _still_counts_earlier(s, readings, period, cfg)]
        problems.append(_drifted(s, source, user, readings, period, cfg)
                        or _disagrees_this_period(s, source, user, readings, period, cfg))
        problems = [p for p in problems if p]
        if problems:
            findings.append(Finding(RULE, "warning", subject(source=source, user=user),
                                    f"counter for user {user} in {source} {'; '.join(problems)}"))
    return findings


def _since(readings: Sequence[CounterReading], at: float) -> int:
    """Index of the first reading at or after ``at`` (readings arrive in time order)."""
    return bisect_left(readings, at, key=lambda r: r.at)


def _crosses(period: Period, a: float, b: float) -> bool:
    return period.kind != "rolling" and period.bounds(a)[0] != period.bounds(b)[0]


def _went_backwards(s: Situation, readings: Sequence[CounterReading], period: Period, cfg: Settings) -> str:
    """A counter that decreases within one period (a decrease at a period boundary is the reset)."""
    recent_from = s.now - cfg["window"]
    for prev, cur in zip(reversed(readings[:-1]), reversed(readings[1:])):
        if cur.at < recent_from:
            break
        for name in ("total_tokens", "period_tokens"):
            before, after = getattr(prev, name), getattr(cur, name)
            if before is None or after is None or after >= before:
                continue
            if name == "period_tokens" and period.kind == "rolling":
                continue  # rolling usage falls as old usage leaves the window
            if not _crosses(period, prev.at, cur.at):
                return (f"went backwards ({name} {_exact(before)} -> {_exact(after)} at {_clock(cur.at)}) "
                        f"within one {period.label}")
    return ""


def _did_not_reset(s: Situation, readings: Sequence[CounterReading], period: Period, cfg: Settings) -> str:
    """A period counter still holding last period's usage: it grew on top of it, or kept it past the
    grace time (some systems reset lazily, on the first request of the new period)."""
    if period.kind == "rolling" or not cfg["resets"]:
        return ""
    start = period.bounds(readings[-1].at)[0]
    split = _since(readings, start)
    before = next((r for r in reversed(readings[:split]) if r.period_tokens is not None), None)
    after = [r.period_tokens for r in readings[split:] if r.period_tokens is not None]
    if before is None or not after or not before.period_tokens or before.period_tokens < cfg["min_tokens"]:
        return ""
    if min(after) < before.period_tokens:
        return ""  # it was reset (or at least went down) at the boundary
    grew = after[-1] > before.period_tokens
    if not grew and s.now - start < cfg["reset_grace"]:
        return ""
    how = "kept growing from" if grew else "still shows"
    return (f"did not reset at the start of the {period.label} ({_clock(start)}): it {how} "
            f"{_exact(before.period_tokens)} tokens from the previous {period.label} (now {_exact(after[-1])})")


def _still_counts_earlier(s: Situation, readings: Sequence[CounterReading], period: Period, cfg: Settings) -> str:
    """A reading of this period whose system says its counter counts from an earlier period (a last
    reset before the period began, this month's usage booked to an earlier month)."""
    last = readings[-1]
    start = period.bounds(s.now)[0]
    if (period.kind == "rolling" or not cfg["resets"] or last.at < start or last.period_tokens is None
            or period_tokens_of(last, start) is not None or last.period_tokens < cfg["min_tokens"]):
        return ""
    return (f"did not reset at the start of the {period.label} ({_clock(start)}): it still counts from "
            f"{_clock(last.period_start or start)} and shows {_exact(last.period_tokens)} tokens")


def _disagrees_this_period(s: Situation, source: str, user: str, readings: Sequence[CounterReading],
                           period: Period, cfg: Settings) -> str:
    """The latest reading's period count against the tokens other sources recorded for the user
    since the period began: fewer than they recorded means usage the counter missed (seed 000); more
    than they recorded, when they reach back to the period's start, means usage of an earlier period
    still on the counter (a missed reset) or usage that never reached the logs."""
    last = readings[-1]
    start = period.bounds(s.now)[0]
    counter = None if last.at < max(start, s.now - cfg["window"]) else period_tokens_of(last, start)
    candidates = _candidates(s, source) if counter is not None and period.kind != "rolling" else {}
    lag, tol = cfg["lag"], cfg["tolerance"]
    since = s.now - min(cfg["window"], 3600) - lag - 60
    first_events = source_profiles(s)[0]
    for name, names in candidates.items():
        recorded = _recorded_this_period(s, frozenset(names)).get(user, 0)
        at_least = recorded - _recorded(s, names, user, last.at - lag, s.now, since)[1]
        at_most = recorded - _recorded(s, names, user, last.at, s.now, since)[0]
        covers = all(first_events.get(n, s.now) <= start for n in names)
        if counter < at_least * (1 - tol) and at_least - counter >= cfg["min_tokens"]:
            return (f"shows {_exact(counter)} tokens this {period.label} but {name} recorded at least "
                    f"{count(at_least)} for that user since {_clock(start)}")
        if covers and counter > at_most * (1 + tol) and counter - at_most >= cfg["min_tokens"]:
            return (f"shows {_exact(counter)} tokens this {period.label} but {name} recorded only "
                    f"{count(at_most)} for that user since the {period.label} began ({_clock(start)}): it may "
                    f"still hold usage of an earlier {period.label}")
    return ""


def _recorded_this_period(s: Situation, names: frozenset[str]) -> dict[str, int]:
    """Tokens per user in each user's current period, as recorded by ``names``."""
    return s.memo(("counter_period", names), lambda: {
        user: standing.period_tokens for user, standing in s.agg.standings(s.now, names.__contains__).items()})


def _value(reading: CounterReading, first: CounterReading, period: Period) -> tuple[str, int] | None:
    if reading.total_tokens is not None and first.total_tokens is not None:
        return "total_tokens", reading.total_tokens - first.total_tokens
    if reading.period_tokens is not None and first.period_tokens is not None and not _crosses(
            period, first.at, reading.at):
        return "period_tokens", reading.period_tokens - first.period_tokens
    return None


def _drifted(s: Situation, source: str, user: str, readings: Sequence[CounterReading], period: Period,
             cfg: Settings) -> str:
    """Compare how much the counter grew with the tokens other sources recorded for the user over the
    same interval: the latest ``min_interval`` (so a new fault shows within a minute) and the whole
    ``window`` (so a small steady drift shows too)."""
    window = readings[_since(readings, s.now - min(cfg["window"], 3600)):]
    if len(window) < 2:
        return ""
    last = window[-1]
    recent = next((r for r in reversed(window) if last.at - r.at >= cfg["min_interval"]), None)
    if recent is None:
        return ""
    candidates = _candidates(s, source)
    if not candidates:
        return ""
    for first in (recent,) if recent is window[0] else (recent, window[0]):
        problem = _compare(s, user, first, last, period, candidates, cfg)
        if problem:
            return problem
    return ""


def _compare(s: Situation, user: str, first: CounterReading, last: CounterReading, period: Period,
             candidates: dict[str, set[str]], cfg: Settings) -> str:
    grown = _value(last, first, period)
    if grown is None or grown[1] < 0:
        return ""  # no comparable counter, or it went backwards (reported separately)
    growth = grown[1]
    # The counter may lag the logs by up to ``lag`` seconds: it holds the events up to some time in
    # [at - lag, at], so the growth lies between the events of (first.at, last.at - lag] and
    # (first.at - lag, last.at].
    lag = cfg["lag"]
    since = s.now - min(cfg["window"], 3600) - lag - 60  # the earliest any interval can start
    bounds = {name: (_recorded(s, names, user, first.at, last.at - lag, since)[0],
                     _recorded(s, names, user, first.at - lag, last.at, since)[1])
              for name, names in candidates.items()}
    if max(growth, *(hi for _, hi in bounds.values())) < cfg["min_tokens"]:
        return ""
    tol = cfg["tolerance"]
    if any(lo * (1 - tol) <= growth <= hi * (1 + tol) for lo, hi in bounds.values()):
        return ""
    name, (lo, hi) = min(bounds.items(), key=lambda item: abs(growth - (item[1][0] + item[1][1]) / 2))
    recorded = count(lo) if lo == hi else f"{count(lo)}-{count(hi)}"
    return (f"grew by {count(growth)} tokens over {duration(last.at - first.at)} "
            f"({_clock(first.at)} to {_clock(last.at)}) but {name} recorded {recorded} tokens for that user")


def _candidates(s: Situation, counter: str) -> dict[str, set[str]]:
    """Sources to reconcile a counter with: each other source that records users, and all of them
    together (a gateway and a ledger may each see part of the traffic)."""

    def find() -> dict[str, set[str]]:
        skip = counter_sources(s) | {counter}
        with_users = {src for src, dim in source_profiles(s)[1] if dim == "user" and src not in skip}
        names = sorted(src.name for src in s.sources if src.name in with_users) or sorted(with_users)
        out = {name: {name} for name in names}
        if len(names) > 1:
            out["all other sources"] = set(names)
        return out

    return s.memo(("counter_candidates", counter), find)


def _recorded(s: Situation, sources: set[str], user: str, start: float, end: float,
              since: float) -> tuple[int, int]:
    """Tokens recorded for ``user`` by ``sources`` in ``(start, end]``, as (at least, at most).

    Exact from the recent-events ring when it reaches back to ``start``; otherwise bounded from the
    minute cells (cells wholly inside count for both, cells touching the edges only for "at most").
    """
    oldest, events_by_user = s.memo("counter_ring", lambda: _ring_index(s))
    if oldest <= start:
        exact = sum(t for ts, src, t in events_by_user.get(user, ()) if src in sources and start < ts <= end)
        return exact, exact
    low = high = 0
    for minute, source, tokens, first, last in s.memo("counter_minutes", lambda: _minute_index(s, since)).get(user, ()):
        if source not in sources or (minute + 1) * 60 <= start or minute * 60 > end:
            continue
        if last <= start or first > end:
            continue
        high += tokens
        if first > start and last <= end:
            low += tokens
    return low, high


def _ring_index(s: Situation) -> tuple[float, dict[str, list[tuple[float, str, int]]]]:
    """The recent events by user, and how far back the ring is complete (-inf if it never dropped one)."""
    ring = s.agg.recent
    by_user: dict[str, list[tuple[float, str, int]]] = {}
    for e in ring:
        by_user.setdefault(e.user or UNKNOWN, []).append((e.ts, e.source, e.total_tokens))
    full = ring.maxlen is not None and len(ring) >= ring.maxlen
    return (min((e.ts for e in ring), default=float("inf")) if full else float("-inf")), by_user


def _minute_index(s: Situation, start: float) -> dict[str, list[tuple[int, str, int, float, float]]]:
    """From the minute of ``start`` on, for each user with a counter: (minute, source, tokens, first
    event time, last event time), folded over providers, models and platforms."""
    users = {user for _, user in s.agg.readings}
    folded: dict[tuple[str, int, str], list[float]] = {}
    first_minute = int(start // 60)
    for minute, key, counts in s.agg.minute_cells(first_minute, 2**62, USER_FAMILY):
        if key[USER] in users:
            slot = folded.get((key[USER], minute, key[SOURCE]))
            if slot is None:
                folded[(key[USER], minute, key[SOURCE])] = [counts.total_tokens, counts.first_ts, counts.last_ts]
            else:
                slot[0] += counts.total_tokens
                slot[1] = min(slot[1], counts.first_ts)
                slot[2] = max(slot[2], counts.last_ts)
    by_user: dict[str, list[tuple[int, str, int, float, float]]] = {}
    for (user, minute, source), (tokens, first, last) in folded.items():
        by_user.setdefault(user, []).append((minute, source, int(tokens), first, last))
    return by_user


def _exact(value: int) -> str:
    """A counter value to the last digit: a counter going from 12,345,678 to 12,345,600 went backwards."""
    return count(value, exact=True)


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
