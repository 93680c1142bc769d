"""Aggregation of usage events into bounded, time-bucketed cells.

Every event is counted in the cells of its hour (hour buckets are also split at billing-period
boundaries, so a bucket belongs to one period) and, when its minute is recent, of its minute; each in
two families, by (source, provider, model, platform) and by (source, user) -- see ``cells``. When a
newer hour starts, the closed hours are merged into the all-time cells and their period's cells once,
so the all-time and period figures cost nothing per event. Hours older than the retention (25 h, or
the longest rolling plan) and all but the last three billing periods are dropped; minutes are kept
for an hour. Memory is therefore bounded by distinct keys times the retention, never by events.

Minute cells exist for the last hour only: behind the newest event, and -- when the aggregator is
given a clock -- behind the clock, so a backfill of old logs never builds minute cells it would drop
at once. Every minute still held is complete (the retention edge only moves forward).

Windows: ``5m``/``1h``/``24h`` are folded from minute cells where minutes reach back far enough, from
hour cells before that; a cell straddling the window start counts if its last event is inside.
``period`` is the current billing period and ``all`` everything.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Final

from tokentop.core.cells import (ANY, DIMENSIONS, KEY_FAMILY, MODEL, NO_TAG, PROVIDER, SOURCE, USER,
                                 USER_FAMILY, Cells, Key, family_of, fold)
from tokentop.core.counts import Counts, count_event
from tokentop.core.event import UNKNOWN, CounterReading, UsageEvent
from tokentop.core.periods import Period
from tokentop.core.plans import PlanBook, Standing
from tokentop.core.readings import ReadingHistory

__all__ = ["Aggregator", "DIMENSIONS", "Key", "MINUTE_RETENTION", "NO_TAG", "WINDOWS", "WINDOW_NAMES", "fold"]

WINDOWS: Final = {"5m": 300, "1h": 3600, "24h": 86400}
"""Rolling windows by name, in seconds; ``period`` and ``all`` are the other windows."""
WINDOW_NAMES: Final = ("5m", "1h", "24h", "period", "all")
MINUTE_RETENTION: Final = 60
Sources = Callable[[str], bool] | None
HourKey = tuple[int, float]
"""(hour since the epoch, start of the billing period the bucket belongs to)"""


class Aggregator:
    """Bounded aggregates of everything ingested, plus a ring of the most recent events."""

    def __init__(self, plans: PlanBook | None = None, recent: int = 1000, hour_retention: int = 25,
                 clock: Callable[[], float] | None = None) -> None:
        self.plans = plans or PlanBook()
        self.clock = clock
        self.recent: deque[UsageEvent] = deque(maxlen=recent)
        rolling = [p.period.hours for p in self.plans.plans.values() if p.period.kind == "rolling"]
        self.hour_retention = max([hour_retention, *(h + 1 for h in rolling)])
        self.total = Cells()
        """All-time cells of the closed hours (the open hours are added when asked)."""
        self.periods: dict[float, Cells] = {}
        """Cells of the closed hours of each billing period, by period start."""
        self.hours: dict[HourKey, Cells] = {}
        self.minutes: dict[int, Cells] = {}
        self.minute_floor: float = float("-inf")
        """Minutes from this one on are complete in ``minutes`` (none before it is kept)."""
        self.events = 0
        self.latest_ts = float("-inf")
        self._high_hour = -(2**62)
        self._hour: tuple[Cells, float, float] = (Cells(), 0.0, 0.0)
        """The bucket of the last event, with the times it covers (saves a lookup per event)."""
        self._bill = (0.0, 0.0)
        self._limits: dict[str, tuple[int | None, str | None]] = {}
        self._period_tokens: dict[tuple[str, float], dict[str, int]] = {}
        """(user, start of the user's own calendar plan period) -> source -> tokens; only for users
        whose plan period differs from the billing period (the others are summed from period cells)."""
        self._own_period: dict[str, Period | None] = {}
        self._user_bounds: dict[str, tuple[float, float]] = {}
        billing = self.plans.billing_period
        self._separate_periods = any(p.period.kind != "rolling" and p.period != billing
                                     for p in self.plans.plans.values())
        self.readings: dict[tuple[str, str], ReadingHistory] = {}
        """Counter readings by (source, user), oldest first (see :meth:`add_reading`)."""

    # -- ingest ---------------------------------------------------------------------------------

    def add(self, e: UsageEvent) -> None:
        self.add_many((e,))

    def add_many(self, events: Iterable[UsageEvent]) -> None:
        """Count events into their hour cells and, when recent, their minute cells.

        This is the ingest hot path: attribute lookups are hoisted into locals, and the current hour
        and minute buckets are remembered between events, which arrive mostly in time order.
        """
        events = events if isinstance(events, list) else list(events)
        if self.clock is not None:
            self._raise_floor(int(self.clock() // 60) - MINUTE_RETENTION)
        minutes, floor = self.minutes, self.minute_floor
        bucket, lo, hi = self._hour
        minute_now, minute_cells = None, Cells()
        separate, latest = self._separate_periods, self.latest_ts
        for e in events:
            ts = e.ts
            if not lo <= ts < hi:
                bucket, lo, hi = self._hour = self._hour_bucket(ts)
            source = e.source
            key = (source, e.provider, e.model, ANY, e.platform or NO_TAG)
            user_key = (source, ANY, ANY, e.user or UNKNOWN, ANY)
            by_key, by_user = bucket.by_key, bucket.by_user
            cell = by_key.get(key)
            if cell is None:
                cell = by_key[key] = Counts()
            user_cell = by_user.get(user_key)
            if user_cell is None:
                user_cell = by_user[user_key] = Counts()
            minute = int(ts // 60)
            if minute < floor:
                count_event(e, cell, user_cell)
            else:
                if minute != minute_now:
                    minute_now = minute
                    minute_cells = minutes.get(minute)
                    if minute_cells is None:
                        minute_cells = self._new_minute(minute)
                    floor = self.minute_floor
                by_key, by_user = minute_cells.by_key, minute_cells.by_user
                minute_cell = by_key.get(key)
                if minute_cell is None:
                    minute_cell = by_key[key] = Counts()
                minute_user = by_user.get(user_key)
                if minute_user is None:
                    minute_user = by_user[user_key] = Counts()
                count_event(e, cell, user_cell, minute_cell, minute_user)
            if bucket.folded:  # a late event for a closed hour: the merged cells need it too
                self._count_closed(e, lo)
            if separate:
                self._count_own_period(e)
            if ts > latest:
                latest = ts
        self.recent.extend(events)
        self.events += len(events)
        self.latest_ts = latest

    def _hour_bucket(self, ts: float) -> tuple[Cells, float, float]:
        if not self._bill[0] <= ts < self._bill[1]:
            self._bill = self.plans.billing_period.bounds(ts)
        start, end = self._bill
        hour = int(ts // 3600)
        key = (hour, start)
        bucket = self.hours.get(key)
        if bucket is None:
            bucket = Cells()
            if hour > self._high_hour:
                self._close_hours(hour)
            else:
                bucket.folded = True  # an hour already closed: its events go to the merged cells too
            if hour >= self._high_hour - self.hour_retention:
                self.hours[key] = bucket
        return bucket, max(hour * 3600.0, start), min(hour * 3600.0 + 3600.0, end)

    def _close_hours(self, hour: int) -> None:
        """Hours before ``hour`` are closed: merge them into the all-time and period cells (once) and
        drop those past the retention."""
        self._high_hour = hour
        for key, bucket in list(self.hours.items()):
            if key[0] < hour and not bucket.folded:
                self.total.merge(bucket)
                self.periods.setdefault(key[1], Cells()).merge(bucket)
                bucket.folded = True
            if key[0] < hour - self.hour_retention:
                del self.hours[key]
        for start in sorted(self.periods)[:-3]:
            del self.periods[start]

    def _count_closed(self, e: UsageEvent, at: float, sign: int = 1) -> None:
        start = self.plans.billing_period.bounds(at)[0]
        for cells in (self.total, self.periods.setdefault(start, Cells())):
            cells.add(e) if sign > 0 else cells.remove(e)

    def _new_minute(self, minute: int) -> Cells:
        self._raise_floor(minute - MINUTE_RETENTION)
        cells = self.minutes[minute] = Cells()
        return cells

    def _raise_floor(self, floor: int) -> None:
        if floor > self.minute_floor:
            self.minute_floor = floor
            for minute in [m for m in self.minutes if m < floor]:
                del self.minutes[minute]

    def _count_own_period(self, e: UsageEvent, sign: int = 1) -> None:
        """Tokens of a user whose calendar plan period is not the billing period."""
        user = e.user or UNKNOWN
        period = self._own_period.get(user, Counts)  # Counts: a sentinel meaning "not looked up yet"
        if period is Counts:
            period = self._own_period[user] = self._separate_period(user)
        if period is None:
            return
        bounds = self._user_bounds.get(user)
        if bounds is None or not bounds[0] <= e.ts < bounds[1]:
            bounds = self._user_bounds[user] = period.bounds(e.ts)  # type: ignore[union-attr]
        per_source = self._period_tokens.setdefault((user, bounds[0]), {})
        per_source[e.source] = per_source.get(e.source, 0) + sign * e.total_tokens

    def _separate_period(self, user: str) -> Period | None:
        """The user's calendar plan period when it is not the billing period (else None)."""
        plan = self.plans.plan_for(user)
        if plan is None or plan.period.kind == "rolling" or plan.period == self.plans.billing_period:
            return None
        return plan.period

    def remove(self, e: UsageEvent) -> None:
        """Take back an event superseded by a later, more complete one (same request)."""
        start = self.plans.billing_period.bounds(e.ts)[0]
        bucket = self.hours.get((int(e.ts // 3600), start))
        if bucket is not None:
            bucket.remove(e)
        if bucket is None or bucket.folded:
            self._count_closed(e, e.ts, sign=-1)
        minute = self.minutes.get(int(e.ts // 60))
        if minute is not None:
            minute.remove(e)
        if self._separate_periods:
            self._count_own_period(e, sign=-1)
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

    def advance(self, now: float) -> None:
        """Drop the minutes that have aged out as of ``now`` (also done as events arrive). Hours close
        only as newer events arrive: closing them on the clock would make every event of a backfill
        that the app is still reading a late one."""
        self._raise_floor(int(now // 60) - MINUTE_RETENTION)

    # -- cells of a span of time ----------------------------------------------------------------

    def all_cells(self, family: str = KEY_FAMILY) -> Iterator[tuple[Key, Counts]]:
        yield from self.total.family(family).items()
        for bucket in self.hours.values():
            if not bucket.folded:
                yield from bucket.family(family).items()

    def period_cells(self, start: float, family: str = KEY_FAMILY) -> Iterator[tuple[Key, Counts]]:
        """Cells of the billing period starting at ``start``."""
        if start in self.periods:
            yield from self.periods[start].family(family).items()
        for (_, period), bucket in self.hours.items():
            if period == start and not bucket.folded:
                yield from bucket.family(family).items()

    def _split_minute(self) -> float:
        """The first minute read from minute cells when a span reaches back before the minutes: the
        first whole hour they cover (the hour before comes from its hour cells)."""
        floor = self.minute_floor
        return floor if floor == float("-inf") else -(-int(floor) // 60) * 60

    def cells_since(self, start: float, family: str = KEY_FAMILY, minutes_only: bool = False
                    ) -> Iterator[tuple[Key, Counts]]:
        """Cells from ``start`` on (events later than the query time are kept: a writer's clock may
        run a little ahead). A cell straddling ``start`` counts if its last event is at or after it."""
        first_minute = int(start // 60)
        split = self.minute_floor if minutes_only or first_minute >= self.minute_floor else self._split_minute()
        for minute, cells in self.minutes.items():
            if minute > first_minute and minute >= split:
                yield from cells.family(family).items()
            elif minute == first_minute and minute >= split:
                yield from ((k, c) for k, c in cells.family(family).items() if c.last_ts >= start)
        if minutes_only or first_minute >= self.minute_floor:
            return
        for (hour, _), cells in self.hours.items():
            if hour * 60 < split and (hour + 1) * 3600 > start:
                yield from ((k, c) for k, c in cells.family(family).items() if c.last_ts >= start)

    def cells_between(self, start: float, end: float, family: str = KEY_FAMILY) -> Iterator[tuple[Key, Counts]]:
        """Cells of the minutes (and, before the minutes, hours) overlapping ``[start, end]``: a span
        includes the whole bucket its edges fall in."""
        first, last = int(start // 60), int(end // 60)
        split = self.minute_floor if first >= self.minute_floor else self._split_minute()
        for minute, cells in self.minutes.items():
            if first <= minute <= last and minute >= split:
                yield from cells.family(family).items()
        if first >= self.minute_floor:
            return
        for (hour, _), cells in self.hours.items():
            if first // 60 <= hour <= last // 60 and hour * 60 < split:
                yield from cells.family(family).items()

    def minute_cells(self, first: int, last: int, family: str = KEY_FAMILY) -> Iterator[tuple[int, Key, Counts]]:
        """(minute, key, counts) of the minutes ``first`` to ``last`` still held."""
        for minute, cells in self.minutes.items():
            if first <= minute <= last:
                for key, counts in cells.family(family).items():
                    yield minute, key, counts

    def timeline(self, family: str = KEY_FAMILY) -> Iterator[dict[Key, Counts]]:
        """Every bucket held, oldest first, each span once: hours, then minutes once they begin."""
        split = self._split_minute()
        for key in sorted(k for k in self.hours if k[0] * 60 < split):
            yield self.hours[key].family(family)
        for minute in sorted(m for m in self.minutes if m >= split):
            yield self.minutes[minute].family(family)

    def window_cells(self, window: str, now: float, family: str = KEY_FAMILY) -> Iterator[tuple[Key, Counts]]:
        """The cells that make up a window (``5m``, ``1h``, ``24h``, ``period`` or ``all``)."""
        if window == "all":
            return self.all_cells(family)
        if window == "period":
            return self.period_cells(self.plans.billing_period.bounds(now)[0], family)
        self.advance(now)
        return self.cells_since(now - WINDOWS[window], family)

    # -- queries --------------------------------------------------------------------------------

    def group(self, dimension: str, window: str, now: float, sources: Sources = None) -> dict[str, Counts]:
        """Counts per value of ``dimension`` (or ``provider/model`` for ``model``) in a window."""
        index = DIMENSIONS[dimension]

        def name(key: Key) -> str | None:
            if sources is not None and not sources(key[SOURCE]):
                return None
            return f"{key[PROVIDER]}/{key[MODEL]}" if index == MODEL else key[index]

        return fold(self.window_cells(window, now, family_of(dimension)), name)  # type: ignore[return-value]

    def overview(self, window: str, now: float, sources: Sources = None
                 ) -> tuple[Counts, dict[str, dict[str, Counts]]]:
        """Totals and every grouping of a window at once: ``(totals, {dimension: {name: counts}})``.

        The same figures as :meth:`totals` and :meth:`group` for each dimension (``source`` grouping
        every source, the others only those ``sources`` accepts): users from the user cells, the
        rest folded by (source, provider, model, platform) first, which has few values.
        """
        accepted: dict[str, bool] = {}

        def counted(source: str) -> bool:
            ok = accepted.get(source)
            if ok is None:
                ok = accepted[source] = sources is None or bool(sources(source))
            return ok

        by_user = fold(self.window_cells(window, now, USER_FAMILY), lambda k: k[USER] if counted(k[SOURCE]) else None)
        rest = fold(self.window_cells(window, now), lambda k: k)
        totals = Counts()
        groups: dict[str, dict[str, Counts]] = {"provider": {}, "model": {}, "user": by_user, "platform": {},
                                                "source": {}}  # type: ignore[dict-item]
        for key, counts in rest.items():
            source, provider, model, _, platform = key  # type: ignore[misc]
            names = [("source", source)]
            if counted(source):
                totals.merge(counts)
                names += [("provider", provider), ("model", f"{provider}/{model}"), ("platform", platform)]
            for dimension, name in names:
                into = groups[dimension].get(name)
                if into is None:
                    into = groups[dimension][name] = Counts()
                into.merge(counts)
        return totals, groups

    def totals(self, window: str, now: float, sources: Sources = None) -> Counts:
        total = Counts()
        for key, counts in self.window_cells(window, now):
            if sources is None or sources(key[SOURCE]):
                total.merge(counts)
        return total

    def per_minute(self, dimension: str, now: float, minutes: int = 30, sources: Sources = None
                   ) -> dict[str, list[int]]:
        """Total tokens per minute for each value of ``dimension``, oldest first, ending at ``now``."""
        index = DIMENSIONS[dimension]
        first = int(now // 60) - minutes + 1
        out: dict[str, list[int]] = {}
        for minute, key, counts in self.minute_cells(first, int(now // 60), family_of(dimension)):
            if sources is not None and not sources(key[SOURCE]):
                continue
            name = f"{key[PROVIDER]}/{key[MODEL]}" if index == MODEL else key[index]
            series = out.get(name)
            if series is None:
                series = out[name] = [0] * minutes
            series[minute - first] += counts.total_tokens
        return out

    def standings(self, now: float, sources: Sources = None) -> dict[str, Standing]:
        """Every known user's plan, limit, usage in their current period and burn rate as of ``now``.

        Calendar periods (month, day) use exact per-period counters however old the period start;
        rolling periods and burn rates are summed from the minute/hour cells (hour granularity
        beyond the minutes).
        """
        self.advance(now)
        cache: dict[tuple[str, float], dict[str, int]] = {}

        def used(kind: str, start: float) -> dict[str, int]:
            """Tokens per user in the billing period / rolling span / burn span from ``start``."""
            if (kind, start) not in cache:
                cells = (self.period_cells(start, USER_FAMILY) if kind == "billing"
                         else self.cells_since(start, USER_FAMILY, minutes_only=kind == "burn"))
                totals: dict[str, int] = {}
                cache[(kind, start)] = totals
                for key, counts in cells:
                    if sources is None or sources(key[SOURCE]):
                        totals[key[USER]] = totals.get(key[USER], 0) + counts.total_tokens
            return cache[(kind, start)]

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
                tokens = used("rolling", start).get(user, 0)
            elif period == self.plans.billing_period:
                tokens = used("billing", start).get(user, 0)
            else:
                per_source = self._period_tokens.get((user, start), {})
                tokens = sum(t for src, t in per_source.items() if sources is None or sources(src))
            # The burn rate looks at the last hour, but never before the period started: usage of
            # the previous period must not inflate the rate just after a reset.
            burn_start = max(now - 3600.0, start)
            elapsed = max(now - burn_start, 60.0)
            burned = used("burn", burn_start).get(user, 0)
            out[user] = Standing(plan_name, limit, tokens, start, end, burned * 3600.0 / elapsed)
        return out

    def users(self) -> set[str]:
        return {key[USER] for key, _ in self.all_cells(USER_FAMILY)} | set(self._limits)
