"""Aggregation of usage events into bounded, time-bucketed cells.

Every event updates three cells keyed by (source, provider, model, user, platform): an all-time cell,
a cell of its minute and a cell of its billing period. Minutes older than an hour are folded into
hour cells (same key); hours older than the retention (25 h, or the longest rolling plan) and all
but the last three billing periods are dropped. Memory is therefore bounded by the number of distinct
keys (times the retention), never by the number of events, and every grouping (by provider, model,
user, platform, source; any window; any subset of sources) is folded from cells when asked for.

Windows: ``5m``/``1h``/``24h`` are folded from minute and hour cells; a cell straddling the window
start counts if its last event is inside (minute resolution within the last hour, hour resolution
beyond). ``period`` is the current billing period and ``all`` everything.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Final

from tokentop.core.counts import Counts, count_event
from tokentop.core.event import UNKNOWN, CounterReading, UsageEvent
from tokentop.core.periods import Period
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
        self._bill_cells: dict[Key, Counts] = {}
        """Cells of the billing period of the last event (saves a lookup per event)."""
        self._period_tokens: dict[tuple[str, float], dict[str, int]] = {}
        """(user, start of the user's own calendar plan period) -> source -> tokens; only for users
        whose plan period differs from the billing period (the others are summed from period cells)."""
        self._own_period: dict[str, Period | None] = {}
        self._keys: dict[Key, Key] = {}
        """Each distinct key once, so that its minute, hour and period cells share one tuple (and its
        strings) instead of each holding the copy of the event that created it."""
        self._user_bounds: dict[str, tuple[float, float]] = {}
        self.readings: dict[tuple[str, str], ReadingHistory] = {}
        """Counter readings by (source, user), oldest first (see :meth:`add_reading`)."""

    # -- ingest ---------------------------------------------------------------------------------

    def add(self, e: UsageEvent) -> None:
        self.add_many((e,))

    def add_many(self, events: Iterable[UsageEvent]) -> None:
        """Count events into their all-time, minute and billing-period cells.

        This is the ingest hot path: attribute lookups are hoisted into locals and the current
        minute bucket is remembered between events, which arrive mostly in time order.
        """
        cells, minutes, recent = self.cells, self.minutes, self.recent
        minute_now, minute_cells = None, None
        bill, bill_cells = self._bill, self._bill_cells
        own_period, latest, count = self._own_period, self.latest_ts, 0
        for e in events:
            key = (e.source, e.provider, e.model, e.user or UNKNOWN, e.platform or NO_TAG)
            ts = e.ts
            minute = int(ts // 60)
            if minute != minute_now:
                minute_now = minute
                minute_cells = minutes.get(minute)
                if minute_cells is None:
                    minute_cells = self._new_minute(minute)
                    bill, bill_cells = self._bill, self._bill_cells  # folding may drop old periods
            if not bill[0] <= ts < bill[1]:
                bill = self._bill = self.plans.billing_period.bounds(ts)
                bill_cells = self._bill_cells = self.periods.setdefault(bill[0], {})
            all_time, this_minute, this_period = cells.get(key), minute_cells.get(key), bill_cells.get(key)
            if all_time is None or this_minute is None or this_period is None:
                key = self._keys.setdefault(key, key)  # one key tuple shared by all its cells
                if all_time is None:
                    all_time = cells[key] = Counts()
                if this_minute is None:
                    this_minute = minute_cells[key] = Counts()
                if this_period is None:
                    this_period = bill_cells[key] = Counts()
            count_event(e, all_time, this_minute, this_period)
            user = key[USER]
            period = own_period.get(user, Counts)  # Counts: a sentinel meaning "not looked up yet"
            if period is Counts:
                period = own_period[user] = self._separate_period(user)
            if period is not None:
                self._add_period_tokens(user, period, e)
            if ts > latest:
                latest = ts
            recent.append(e)
            count += 1
        self.events += count
        self.latest_ts = latest

    def _separate_period(self, user: str) -> Period | None:
        """The user's calendar plan period when it is not the billing period (else None)."""
        plan = self.plans.plan_for(user)
        if plan is None or plan.period.kind == "rolling" or plan.period == self.plans.billing_period:
            return None
        return plan.period

    def _add_period_tokens(self, user: str, period: Period, e: UsageEvent, sign: int = 1) -> None:
        bounds = self._user_bounds.get(user)
        if bounds is None or not bounds[0] <= e.ts < bounds[1]:
            bounds = self._user_bounds[user] = period.bounds(e.ts)
        per_source = self._period_tokens.setdefault((user, bounds[0]), {})
        per_source[e.source] = per_source.get(e.source, 0) + sign * e.total_tokens

    def remove(self, e: UsageEvent) -> None:
        """Take back an event superseded by a later, more complete one (same request)."""
        key = key_of(e)
        if key in self.cells:
            self.cells[key].remove(e)
        start = self.plans.billing_period.bounds(e.ts)[0]
        if key in self.periods.get(start, {}):
            self.periods[start][key].remove(e)
        period = self._separate_period(key[USER])
        if period is not None:
            self._add_period_tokens(key[USER], period, e, sign=-1)
        minute = int(e.ts // 60)
        if minute in self.minutes and key in self.minutes[minute]:
            self.minutes[minute][key].remove(e)
        elif (hour := minute // 60) in self.hours and key in self.hours[hour]:
            self.hours[hour][key].remove(e)
        self.events -= 1
        self._forget_recent(e)

    def _forget_recent(self, e: UsageEvent) -> None:
        # Retracted events may be slim copies of what was added, so match on identity fields.
        for i in range(len(self.recent) - 1, -1, -1):
            r = self.recent[i]
            if r is e or (r.source == e.source and r.request_id == e.request_id and r.ts == e.ts
                          and r.total_tokens == e.total_tokens):
                del self.recent[i]
                return

    def add_reading(self, reading: CounterReading) -> None:
        """Keep a usage counter's reading (bounded per counter) for the reconciliation rules."""
        history = self.readings.get((reading.source, reading.user))
        if history is None:
            history = self.readings[(reading.source, reading.user)] = ReadingHistory()
        history.add(reading)

    def set_user_limit(self, user: str, limit: int | None, plan: str | None = None) -> None:
        """A limit reported by the system itself (a usage endpoint) overrides the configured plan."""
        self._limits[user] = (limit, plan)

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
            if start == self._bill[0]:  # an old event's period: forget it as the current one
                self._bill, self._bill_cells = (0.0, 0.0), {}

    # -- queries --------------------------------------------------------------------------------

    def window_cells(self, window: str, now: float) -> Iterator[tuple[Key, Counts]]:
        """The cells that make up a window (``5m``, ``1h``, ``24h``, ``period`` or ``all``)."""
        if window == "all":
            yield from self.cells.items()
            return
        if window == "period":
            yield from self.periods.get(self.plans.billing_period.bounds(now)[0], {}).items()
            return
        self.advance(now)
        yield from self._cells_since(now - WINDOWS[window])

    def _cells_since(self, start: float, minutes_only: bool = False) -> Iterator[tuple[Key, Counts]]:
        """Time-bucketed cells from ``start`` on: whole minutes, then hours (events later than the
        query time are kept: a writer's clock may run a little ahead)."""
        first_minute = int(start // 60)
        # A cell that straddles ``start`` counts if any of its events is in the window (minute or hour
        # granularity); a cell whose last event is older does not. In hours, that also leaves out the
        # part of an hour still covered by minute buckets.
        for minute, bucket in self.minutes.items():
            if minute > first_minute:
                yield from bucket.items()
            elif minute == first_minute:
                yield from ((key, c) for key, c in bucket.items() if c.last_ts >= start)
        if minutes_only:
            return
        for hour, bucket in self.hours.items():
            if (hour + 1) * 3600 > start:
                yield from ((key, c) for key, c in bucket.items() if c.last_ts >= start)

    def group(
        self,
        dimension: str,
        window: str,
        now: float,
        sources: Callable[[str], bool] | None = None,
    ) -> dict[str, Counts]:
        """Counts per value of ``dimension`` (or ``provider/model`` for ``model``) in a window."""
        index = DIMENSIONS[dimension]

        def name(key: Key) -> str | None:
            if sources is not None and not sources(key[SOURCE]):
                return None
            return f"{key[PROVIDER]}/{key[MODEL]}" if index == MODEL else key[index]

        return fold(self.window_cells(window, now), name)  # type: ignore[return-value]

    def overview(
        self, window: str, now: float, sources: Callable[[str], bool] | None = None
    ) -> tuple[Counts, dict[str, dict[str, Counts]]]:
        """Totals and every grouping of a window at once: ``(totals, {dimension: {name: counts}})``.

        The same figures as :meth:`totals` and :meth:`group` for each dimension (``source`` grouping
        every source, the others only those ``sources`` accepts), in two merges per cell instead of
        six: cells are folded by user and by (source, provider, model, platform), which has few
        values, and the other groupings are folded from the latter.
        """
        accepted: dict[str, bool] = {}
        by_user: dict[str, Counts] = {}
        rest: dict[tuple[str, str, str, str], Counts] = {}
        for key, counts in self.window_cells(window, now):
            source = key[SOURCE]
            ok = accepted.get(source)
            if ok is None:
                ok = accepted[source] = sources is None or bool(sources(source))
            if ok:
                into = by_user.get(key[USER])
                if into is None:
                    into = by_user[key[USER]] = Counts()
                into.merge(counts)
            coarse = (source, key[PROVIDER], key[MODEL], key[PLATFORM])
            into = rest.get(coarse)
            if into is None:
                into = rest[coarse] = Counts()
            into.merge(counts)
        totals = Counts()
        groups: dict[str, dict[str, Counts]] = {"provider": {}, "model": {}, "user": by_user, "platform": {},
                                                "source": {}}
        for (source, provider, model, platform), counts in rest.items():
            names = [("source", source)]
            if accepted[source]:
                totals.merge(counts)
                names += [("provider", provider), ("model", f"{provider}/{model}"), ("platform", platform)]
            for dimension, name in names:
                into = groups[dimension].get(name)
                if into is None:
                    into = groups[dimension][name] = Counts()
                into.merge(counts)
        return totals, groups

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
        # Tokens per user since each distinct burn-rate start, computed once per start.
        since_cache: dict[tuple[float, bool], dict[str, int]] = {}

        def billing_used(start: float) -> dict[str, int]:
            if start not in billing_cache:
                billing_cache[start] = totals = {}
                for key, counts in self.periods.get(start, {}).items():
                    if sources is None or sources(key[SOURCE]):
                        totals[key[USER]] = totals.get(key[USER], 0) + counts.total_tokens
            return billing_cache[start]

        billing_cache: dict[float, dict[str, int]] = {}

        def tokens_since(start: float, minutes_only: bool) -> dict[str, int]:
            if (start, minutes_only) not in since_cache:
                since_cache[start, minutes_only] = self._user_tokens_since(start, now, sources, minutes_only)
            return since_cache[start, minutes_only]

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
                used = tokens_since(start, False).get(user, 0)
            elif period == self.plans.billing_period:
                used = billing_used(start).get(user, 0)
            else:
                per_source = self._period_tokens.get((user, start), {})
                used = sum(t for src, t in per_source.items() if sources is None or sources(src))
            # The burn rate looks at the last hour, but never before the period started: usage of
            # the previous period must not inflate the rate just after a reset.
            burn_start = max(now - 3600.0, start)
            elapsed = max(now - burn_start, 60.0)
            burned = tokens_since(burn_start, True).get(user, 0)
            out[user] = Standing(plan_name, limit, used, start, end, burned * 3600.0 / elapsed)
        return out

    def _user_tokens_since(
        self, start: float, now: float, sources: Callable[[str], bool] | None, minutes_only: bool = False
    ) -> dict[str, int]:
        totals: dict[str, int] = {}
        for key, counts in self._cells_since(start, minutes_only):
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


def fold(cells: Iterable[tuple[Key, Counts]], by: Callable[[Key], Hashable | None]) -> dict[Hashable, Counts]:
    """Merge cells into one Counts per ``by(key)``; keys for which ``by`` returns None are left out."""
    out: dict[Hashable, Counts] = {}
    for key, counts in cells:
        name = by(key)
        if name is None:
            continue
        into = out.get(name)
        if into is None:
            into = out[name] = Counts()
        into.merge(counts)
    return out
