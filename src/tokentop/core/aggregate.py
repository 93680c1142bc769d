"""Aggregation of usage events into bounded, time-bucketed cells.

Every event updates two cells keyed by (source, provider, model, user, platform): an all-time cell and
a cell of its minute. Minutes older than an hour are folded into hour cells (without the user, plus a
per-user hour cell); hours older than the retention are dropped. Memory is therefore bounded by the
number of distinct keys, never by the number of events, and every grouping (by provider, model, user,
platform, source; any window; any subset of sources) is folded from cells when a snapshot is asked for.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Final

from tokentop.core.counts import Counts
from tokentop.core.event import UNKNOWN, CounterReading, UsageEvent
from tokentop.core.plans import PlanBook, Standing

Key = tuple[str, str, str, str, str]
"""(source, provider, model, user, platform)"""
SOURCE, PROVIDER, MODEL, USER, PLATFORM = range(5)
DIMENSIONS: Final = {"source": SOURCE, "provider": PROVIDER, "model": MODEL, "user": USER, "platform": PLATFORM}

WINDOWS: Final = {"5m": 300, "1h": 3600, "24h": 86400}
"""Rolling windows by name, in seconds; ``period`` and ``all`` are the other windows."""
WINDOW_NAMES: Final = ("5m", "1h", "24h", "period", "all")

MINUTE_RETENTION: Final = 60
NO_TAG: Final = ""


def key_of(e: UsageEvent) -> Key:
    return (e.source, e.provider, e.model, e.user or UNKNOWN, e.platform or NO_TAG)


class Aggregator:
    """Bounded aggregates of everything ingested, plus a ring of the most recent events."""

    def __init__(self, plans: PlanBook | None = None, recent: int = 1000, hour_retention: int = 25) -> None:
        self.plans = plans or PlanBook()
        self.recent: deque[UsageEvent] = deque(maxlen=recent)
        rolling = [p.period.hours for p in self.plans.plans.values() if p.period.kind == "rolling"]
        self.hour_retention = max([hour_retention, *(h + 1 for h in rolling)])
        self.cells: dict[Key, Counts] = {}
        self.minutes: dict[int, dict[Key, Counts]] = {}
        self.hours: dict[int, dict[Key, Counts]] = {}
        """Hour cells keep the user (needed by user windows and rolling plans)."""
        self.events = 0
        self.latest_ts = float("-inf")
        self._high_minute = -1
        self._limits: dict[str, tuple[int | None, str | None]] = {}
        self.periods: dict[float, dict[Key, Counts]] = {}
        """Cells of each billing period, by period start (the ``period`` window)."""
        self._bill = (0.0, 0.0)
        self._period_tokens: dict[tuple[str, float], dict[str, int]] = {}
        """(user, start of the user's calendar plan period) -> source -> tokens."""
        self._user_bounds: dict[str, tuple[float, float]] = {}
        self.readings: dict[tuple[str, str], ReadingHistory] = {}
        """Counter readings by (source, user), oldest first (see :meth:`add_reading`)."""

    # -- ingest ---------------------------------------------------------------------------------

    def add(self, e: UsageEvent) -> None:
        key = (e.source, e.provider, e.model, e.user or UNKNOWN, e.platform or NO_TAG)
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = Counts()
        cell.add(e)
        minute = int(e.ts // 60)
        bucket = self.minutes.get(minute)
        if bucket is None:
            bucket = self._new_minute(minute)
        cell = bucket.get(key)
        if cell is None:
            cell = bucket[key] = Counts()
        cell.add(e)
        ts = e.ts
        bill = self._bill
        if not bill[0] <= ts < bill[1]:
            bill = self._bill = self.plans.billing_period.bounds(ts)
        bucket = self.periods.get(bill[0])
        if bucket is None:
            bucket = self.periods[bill[0]] = {}
        cell = bucket.get(key)
        if cell is None:
            cell = bucket[key] = Counts()
        cell.add(e)
        user = key[USER]
        bounds = self._user_bounds.get(user)
        if bounds is None or not bounds[0] <= ts < bounds[1]:
            bounds = self._user_bounds[user] = self._user_period_bounds(user, ts)
        per_source = self._period_tokens.get((user, bounds[0]))
        if per_source is None:
            per_source = self._period_tokens[(user, bounds[0])] = {}
        per_source[e.source] = per_source.get(e.source, 0) + e.total_tokens
        self.events += 1
        if ts > self.latest_ts:
            self.latest_ts = ts
        self.recent.append(e)

    def add_many(self, events: Iterable[UsageEvent]) -> None:
        add = self.add
        for e in events:
            add(e)

    def remove(self, e: UsageEvent) -> None:
        """Take back an event superseded by a later, more complete one (same request)."""
        key = key_of(e)
        if key in self.cells:
            self.cells[key].remove(e)
        start = self.plans.billing_period.bounds(e.ts)[0]
        if key in self.periods.get(start, {}):
            self.periods[start][key].remove(e)
        per_source = self._period_tokens.get((key[USER], self._user_period_bounds(key[USER], e.ts)[0]))
        if per_source and e.source in per_source:
            per_source[e.source] -= e.total_tokens
        minute = int(e.ts // 60)
        if minute in self.minutes and key in self.minutes[minute]:
            self.minutes[minute][key].remove(e)
        elif (hour := minute // 60) in self.hours and key in self.hours[hour]:
            self.hours[hour][key].remove(e)
        self.events -= 1
        try:
            self.recent.remove(e)
        except ValueError:
            pass

    def add_reading(self, reading: CounterReading) -> None:
        """Keep a usage counter's reading (bounded per counter) for the reconciliation rules."""
        history = self.readings.get((reading.source, reading.user))
        if history is None:
            history = self.readings[(reading.source, reading.user)] = ReadingHistory()
        history.add(reading)

    def set_user_limit(self, user: str, limit: int | None, plan: str | None = None) -> None:
        """A limit reported by the system itself (a usage endpoint) overrides the configured plan."""
        self._limits[user] = (limit, plan)

    def _user_period_bounds(self, user: str, ts: float) -> tuple[float, float]:
        plan = self.plans.plan_for(user)
        period = plan.period if plan else self.plans.billing_period
        if period.kind == "rolling":
            return (float("-inf"), float("inf"))  # rolling usage is summed from the time buckets
        return period.bounds(ts)

    def _new_minute(self, minute: int) -> dict[Key, Counts]:
        bucket = self.minutes[minute] = {}
        if minute > self._high_minute:
            self._high_minute = minute
            self._fold(minute)
        return bucket

    def advance(self, now: float) -> None:
        """Fold and drop buckets that have aged out as of ``now`` (also done as events arrive)."""
        minute = int(now // 60)
        if minute > self._high_minute:
            self._high_minute = minute
            self._fold(minute)

    def _fold(self, current_minute: int) -> None:
        oldest_minute = current_minute - MINUTE_RETENTION
        for minute in [m for m in self.minutes if m < oldest_minute]:
            hour_cells = self.hours.setdefault(minute // 60, {})
            for key, counts in self.minutes.pop(minute).items():
                into = hour_cells.get(key)
                if into is None:
                    hour_cells[key] = counts
                else:
                    into.merge(counts)
        oldest_hour = current_minute // 60 - self.hour_retention
        for hour in [h for h in self.hours if h < oldest_hour]:
            del self.hours[hour]
        for start in sorted(self.periods)[:-3]:
            del self.periods[start]

    # -- queries --------------------------------------------------------------------------------

    def window_cells(self, window: str, now: float) -> Iterator[tuple[Key, Counts]]:
        """The cells that make up a window (``5m``, ``1h``, ``24h``, ``period`` or ``all``)."""
        if window == "all":
            yield from self.cells.items()
            return
        if window == "period":
            yield from self.periods.get(self.plans.billing_period.bounds(now)[0], {}).items()
            return
        start = now - WINDOWS[window]
        self.advance(now)
        first_minute = int(start // 60)
        first_hour = first_minute // 60
        for minute, bucket in self.minutes.items():
            if minute >= first_minute:
                yield from bucket.items()
        for hour, bucket in self.hours.items():
            if hour >= first_hour:
                yield from bucket.items()

    def group(
        self,
        dimension: str,
        window: str,
        now: float,
        sources: Callable[[str], bool] | None = None,
    ) -> dict[str, Counts]:
        """Counts per value of ``dimension`` (or ``provider/model`` for ``model``) in a window."""
        index = DIMENSIONS[dimension]
        out: dict[str, Counts] = {}
        for key, counts in self.window_cells(window, now):
            if sources is not None and not sources(key[SOURCE]):
                continue
            name = f"{key[PROVIDER]}/{key[MODEL]}" if index == MODEL else key[index]
            into = out.get(name)
            if into is None:
                into = out[name] = Counts()
            into.merge(counts)
        return out

    def totals(self, window: str, now: float, sources: Callable[[str], bool] | None = None) -> Counts:
        total = Counts()
        for key, counts in self.window_cells(window, now):
            if sources is None or sources(key[SOURCE]):
                total.merge(counts)
        return total

    def per_minute(
        self, dimension: str, now: float, minutes: int = 30, sources: Callable[[str], bool] | None = None
    ) -> dict[str, list[int]]:
        """Total tokens per minute for each value of ``dimension``, oldest first, ending at ``now``."""
        index = DIMENSIONS[dimension]
        last = int(now // 60)
        first_minute = last - minutes + 1
        out: dict[str, list[int]] = {}
        for minute in range(first_minute, last + 1):
            for key, counts in self.minutes.get(minute, {}).items():
                if sources is not None and not sources(key[SOURCE]):
                    continue
                name = f"{key[PROVIDER]}/{key[MODEL]}" if index == MODEL else key[index]
                series = out.get(name)
                if series is None:
                    series = out[name] = [0] * minutes
                series[minute - first_minute] += counts.total_tokens
        return out

    def standings(self, now: float, sources: Callable[[str], bool] | None = None) -> dict[str, Standing]:
        """Every known user's plan, limit, usage in their current period and burn rate as of ``now``.

        Calendar periods (month, day) use exact per-period counters however old the period start;
        rolling periods and burn rates are summed from the minute/hour buckets (hour granularity
        beyond the last hour).
        """
        self.advance(now)
        recent = self._user_tokens_since(now - 3600.0, now, sources, minutes_only=True)
        rolling_cache: dict[float, dict[str, int]] = {}
        out: dict[str, Standing] = {}
        for user in sorted(self.users()):
            plan = self.plans.plan_for(user)
            period = plan.period if plan else self.plans.billing_period
            limit, plan_name = (plan.limit, plan.name) if plan else (None, None)
            if user in self._limits:
                limit, reported_plan = self._limits[user]
                plan_name = reported_plan or plan_name
            start, end = period.bounds(now)
            if period.kind == "rolling":
                if start not in rolling_cache:
                    rolling_cache[start] = self._user_tokens_since(start, now, sources)
                used = rolling_cache[start].get(user, 0)
            else:
                per_source = self._period_tokens.get((user, start), {})
                used = sum(t for src, t in per_source.items() if sources is None or sources(src))
            elapsed = min(3600.0, max(now - start, 60.0))
            out[user] = Standing(plan_name, limit, used, start, end, recent.get(user, 0) * 3600.0 / elapsed)
        return out

    def _user_tokens_since(
        self, start: float, now: float, sources: Callable[[str], bool] | None, minutes_only: bool = False
    ) -> dict[str, int]:
        first_minute = int(start // 60)
        buckets = [b for m, b in self.minutes.items() if first_minute <= m <= now // 60]
        if not minutes_only:
            buckets += [b for h, b in self.hours.items() if h >= first_minute // 60]
        totals: dict[str, int] = {}
        for bucket in buckets:
            for key, counts in bucket.items():
                if sources is None or sources(key[SOURCE]):
                    totals[key[USER]] = totals.get(key[USER], 0) + counts.total_tokens
        return totals

    def users(self) -> set[str]:
        return {key[USER] for key in self.cells} | set(self._limits)


class ReadingHistory:
    """One counter's readings, oldest first, thinned as they age so memory stays bounded however long
    tokentop runs: every reading of the last hour, then the last reading of each hour for a day, then
    the last of each day for 40 days (enough to see a period boundary and what the counter held
    before it)."""

    __slots__ = ("_items",)
    THIN_EVERY: Final = 64
    RECENT: Final = 3600.0
    HOURLY: Final = 25 * 3600.0
    KEEP: Final = 40 * 86400.0

    def __init__(self) -> None:
        self._items: list[CounterReading] = []

    def add(self, reading: CounterReading) -> None:
        self._items.append(reading)
        if len(self._items) % self.THIN_EVERY == 0:
            self._thin(reading.at)

    def _thin(self, now: float) -> None:
        kept: list[CounterReading] = []
        last_slot: tuple[str, int] | None = None
        for r in reversed(self._items):  # newest first, so each hour/day keeps its last reading
            age = now - r.at
            if age <= self.RECENT:
                kept.append(r)
                continue
            if age > self.KEEP:
                break
            slot = ("h", int(r.at // 3600)) if age <= self.HOURLY else ("d", int(r.at // 86400))
            if slot != last_slot:
                kept.append(r)
                last_slot = slot
        kept.reverse()
        self._items = kept

    def __iter__(self) -> Iterator[CounterReading]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

