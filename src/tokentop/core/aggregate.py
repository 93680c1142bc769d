"""The aggregator: everything ingested, kept as bounded counters, and the figures asked of it.

Events are counted into time buckets of cells (:mod:`buckets`: hours, recent minutes, merged all-time
and billing-period cells; each in the per-key and per-user families of :mod:`cells`). Memory is bounded
by distinct keys times the retention, never by the number of events. Every grouping (by provider,
model, user, platform, source; any window; any subset of sources) is folded from cells when asked for,
plus a ring of the most recent events for the requests panel and the rules that sample events.
Distinct values per dimension are bounded too: beyond the key cap the least used fold into
``(other)`` (:mod:`keycap`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from itertools import chain, groupby
from operator import attrgetter

from tokentop.core import aggstate
from tokentop.core.aggstate import AggregatorState
from tokentop.core.buckets import MINUTE_RETENTION, WINDOW_NAMES, WINDOWS, TimeBuckets
from tokentop.core.cells import (ANY, DIMENSIONS, MODEL, NO_TAG, PROVIDER, SOURCE, USER, USER_FAMILY, Cells, Key,
                                 family_of, fold, key_of, user_key_of)
from tokentop.core.counts import Counts, count_event
from tokentop.core.event import UNKNOWN, CounterReading, UsageEvent
from tokentop.core.keycap import DEFAULT_MAX_KEYS, OTHER, KeyCap, family_of_slot, refold, usage_by
from tokentop.core.periods import Period
from tokentop.core.plans import PlanBook, Standing
from tokentop.core.readings import ReadingHistory
from tokentop.core import summaries

__all__ = ["Aggregator", "DIMENSIONS", "Key", "MINUTE_RETENTION", "NO_TAG", "WINDOWS", "WINDOW_NAMES", "fold"]

Sources = Callable[[str], bool] | None
_TS = attrgetter("ts")
_SOURCE = attrgetter("source")
HISTORY_LAG = 3600.0
"""Events this much older than the newest one seen are history (see ``_keep_recent``)."""


class Aggregator(TimeBuckets):
    """Bounded aggregates of everything ingested, plus a ring of the most recent events."""

    def __init__(self, plans: PlanBook | None = None, recent: int = 1000, hour_retention: int = 25,
                 clock: Callable[[], float] | None = None, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self.plans = plans or PlanBook()
        super().__init__(self.plans.billing_period, summaries.hour_retention(self.plans, hour_retention))
        self.clock = clock
        self.recent: deque[UsageEvent] = deque(maxlen=recent)
        self.recent_by_source: dict[str, deque[UsageEvent]] = {}
        """The same ring kept per source, so one source's backfill (a ledger's history read after
        the log's) cannot push every request of another out of what the requests panel shows."""
        self._recent_size = recent
        self.events = 0
        self.latest_ts = float("-inf")
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
        self.keycap = KeyCap(max_keys, pinned_users=self.plans.assignments)

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
        known, admit = self.keycap.known, self.keycap.admit
        for e in events:
            ts = e.ts
            if not lo <= ts < hi:
                bucket, lo, hi = self._hour = self._hour_bucket(ts)
            source = e.source
            key = (source, e.provider, e.model, ANY, e.platform or NO_TAG)
            user_key = (source, ANY, ANY, e.user or UNKNOWN, ANY)
            if key not in known:  # a value not held yet: held, or counted in (other) (see keycap)
                key = admit(key, e.total_tokens)
            if user_key not in known:
                user_key = admit(user_key, e.total_tokens)
            cell, user_cell = bucket.pair(key, user_key)
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
                count_event(e, cell, user_cell, *minute_cells.pair(key, user_key))
            if bucket.folded:  # a late event for a closed hour: the merged cells need it too
                self._count_closed(e, lo, keys=(key, user_key))
            if separate:
                self._count_own_period(e, user=user_key[USER])
            if ts > latest:
                latest = ts
        self._keep_recent(events)
        self.events += len(events)
        self.latest_ts = latest
        if self.keycap.overfull():
            self.fold_keys()

    def fold_keys(self, down_to_limit: bool = False) -> None:
        """Fold the least-used values of every dimension holding too many into ``(other)``, in every
        bucket (see :mod:`keycap`); the users' own-period state of folded users goes too."""
        for slot in self.keycap.overfull(down_to_limit):
            family = family_of_slot(slot)
            gone = self.keycap.choose(slot, usage_by(self.all_cells(family), slot))
            if not gone:
                continue
            for cells in self.every_cells():
                refold(cells.family(family), slot, gone)
            if family == USER_FAMILY:
                for user, start in [k for k in self._period_tokens if k[0] in gone]:
                    del self._period_tokens[(user, start)]
                for per_user in (self._own_period, self._user_bounds):
                    for user in gone.intersection(per_user):
                        del per_user[user]

    def _keep_recent(self, events: list[UsageEvent]) -> None:
        """Add events to the ring of recent ones and to their source's own ring, in the order they
        arrive, unless all are history older than what a ring holds: read after newer records (today's
        file before the rotated ones), they must not push the newest requests out. (A source lagging
        behind another by less than an hour is not history: its events go in as they arrive.)"""
        self._extend_ring(self.recent, events)
        for source, group in groupby(events, key=_SOURCE):  # (a batch is one source's, mostly)
            ring = self.recent_by_source.get(source)
            if ring is None:
                ring = self.recent_by_source[source] = deque(maxlen=self._recent_size)
            self._extend_ring(ring, list(group))

    def show(self, events: list[UsageEvent]) -> None:
        """Put events in the recent rings without counting them: a preview of what a source counts
        when it reads them (see :meth:`unshow`)."""
        self._keep_recent(events)

    def unshow(self, events: Iterable[UsageEvent]) -> None:
        """Take previewed events back out of the recent rings."""
        gone = set(map(id, events))
        for ring in (self.recent, *self.recent_by_source.values()):
            kept = [e for e in ring if id(e) not in gone]
            if len(kept) != len(ring):
                ring.clear()
                ring.extend(kept)

    def _extend_ring(self, ring: deque[UsageEvent], events: list[UsageEvent]) -> None:
        if len(ring) == ring.maxlen and events:
            newest = max(map(_TS, events))
            if newest < ring[0].ts and newest < self.latest_ts - HISTORY_LAG:
                return
        ring.extend(events)

    def add_summaries(self, summed: Iterable[summaries.Summary]) -> None:
        """Count history a source had summed (see :mod:`tokentop.core.summaries`) as ``add_many`` would
        have counted its requests."""
        summaries.add_summaries(self, summed)

    def _count_own_period(self, e: UsageEvent, sign: int = 1, user: str | None = None) -> None:
        """(``user``: the user the event is counted under, after the key cap.)"""
        self._tally_own_period(user or e.user or UNKNOWN, e.ts, e.source, sign * e.total_tokens)

    def _tally_own_period(self, user: str, ts: float, source: str, tokens: int) -> None:
        """Tokens of a user whose calendar plan period is not the billing period."""
        period = self._own_period.get(user, Counts)  # Counts: a sentinel meaning "not looked up yet"
        if period is Counts:
            period = self._own_period[user] = self._separate_period(user)
        if period is None:
            return
        bounds = self._user_bounds.get(user)
        if bounds is None or not bounds[0] <= ts < bounds[1]:
            bounds = self._user_bounds[user] = period.bounds(ts)  # type: ignore[union-attr]
        per_source = self._period_tokens.setdefault((user, bounds[0]), {})
        per_source[source] = per_source.get(source, 0) + tokens

    def _separate_period(self, user: str) -> Period | None:
        """The user's calendar plan period when it is not the billing period (else None)."""
        plan = self.plans.plan_for(user)
        if plan is None or plan.period.kind == "rolling" or plan.period == self.plans.billing_period:
            return None
        return plan.period

    def remove(self, e: UsageEvent) -> None:
        """Take back an event superseded by a later, more complete one (same request)."""
        keys = self.keycap.resolve(key_of(e)), self.keycap.resolve(user_key_of(e))
        self.uncount(e, keys)
        if self._separate_periods:
            self._count_own_period(e, sign=-1, user=keys[1][USER])
        self.events -= 1
        self._forget_recent(e)

    def _forget_recent(self, e: UsageEvent) -> None:
        # Retracted events may be slim copies of what was added, so match on identity fields.
        for ring in (self.recent, self.recent_by_source.get(e.source, ())):
            for i in range(len(ring) - 1, -1, -1):
                r = ring[i]
                if r is e or (r.source == e.source and r.request_id == e.request_id and r.ts == e.ts
                              and r.total_tokens == e.total_tokens):
                    del ring[i]  # type: ignore[attr-defined]
                    break

    def recent_requests(self) -> tuple[UsageEvent, ...]:
        """The newest events of every source (each source's own ring), oldest first by time."""
        rings = list(self.recent_by_source.values())
        if len(rings) == 1:
            return tuple(rings[0])
        return tuple(sorted(chain.from_iterable(rings), key=_TS))

    def add_reading(self, reading: CounterReading) -> None:
        """Keep a usage counter's reading (bounded per counter) for the reconciliation rules."""
        history = self.readings.get((reading.source, reading.user))
        if history is None:
            history = self.readings[(reading.source, reading.user)] = ReadingHistory()
        history.add(reading)

    def set_user_limit(self, user: str, limit: int | None, plan: str | None = None) -> None:
        """A limit reported by the system itself (a usage endpoint) overrides the configured plan."""
        self._limits[user] = (limit, plan)
        self.keycap.pin(USER, user)  # never folded: its gauge must stay

    # -- as data (checkpoints, backfill workers): see tokentop.core.aggstate -----------------------

    def to_state(self) -> AggregatorState:
        return aggstate.to_state(self)

    @classmethod
    def from_state(cls, state: AggregatorState, plans: PlanBook, clock: Callable[[], float] | None = None,
                   recent: int = 1000, max_keys: int = DEFAULT_MAX_KEYS) -> Aggregator:
        return aggstate.from_state(state, plans, clock, recent, max_keys)

    def merge(self, other: Aggregator) -> None:
        """Add another aggregator's counts (it is consumed); see ``aggstate.merge``."""
        aggstate.merge(self, other)

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
            plan = self.plans.plan_for(user) if user != OTHER else None  # folded users: no plan, no limit
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
