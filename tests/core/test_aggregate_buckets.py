"""How the aggregator buckets time: two cell families, minute cells only for recent events (behind the
clock it is given), hours merged into all-time and period cells once closed, periods that do not start
on the hour."""

from __future__ import annotations

import random
from datetime import datetime
from zoneinfo import ZoneInfo

from tokentop.core.aggregate import Aggregator
from tokentop.core.periods import Period
from tokentop.core.plans import PlanBook

from .helpers import event

T = 1_789_999_200.0  # an hour boundary
WINDOWS = ("5m", "1h", "24h", "period", "all")


def _same_figures(a: Aggregator, b: Aggregator, now: float) -> None:
    for window in WINDOWS:
        assert a.overview(window, now) == b.overview(window, now), window
    assert a.standings(now) == b.standings(now)
    assert a.per_minute("model", now) == b.per_minute("model", now)


def test_cells_are_per_key_and_per_user_not_per_request() -> None:
    agg = Aggregator()
    for i in range(600):  # 600 requests in one minute: 3 models x 200 users
        agg.add(event(T + i * 0.1, user=f"u{i % 200}", model=f"m{i % 3}"))
    minute = agg.minutes[int(T // 60)]
    assert (len(minute.by_key), len(minute.by_user)) == (3, 200)
    assert sum(c.requests for c in minute.by_key.values()) == sum(c.requests for c in minute.by_user.values()) == 600


def test_a_clock_keeps_old_events_out_of_minute_cells_with_the_same_figures() -> None:
    """A backfill of records older than an hour builds hour cells only; every window agrees with an
    aggregator that built minute cells for them."""
    rng = random.Random(3)
    now = T + 30 * 3600
    events = [event(T + i * 30.0 + rng.random(), user=f"u{rng.randrange(40)}", model=rng.choice("ab"),
                    prompt_tokens=rng.randrange(500)) for i in range(3600)]  # 30 h, the last 10 minutes recent
    with_clock, without = Aggregator(clock=lambda: now), Aggregator()
    for start in range(0, len(events), 500):
        with_clock.add_many(events[start:start + 500])
        without.add_many(events[start:start + 500])
    assert min(with_clock.minutes) >= int(now // 60) - 60
    _same_figures(with_clock, without, now)
    assert with_clock.totals("5m", now).requests == 10
    assert with_clock.totals("24h", now).requests == 24 * 120


def test_events_of_old_records_only_never_build_minutes() -> None:
    agg = Aggregator(clock=lambda: T + 86400 * 20)
    agg.add_many([event(T + i) for i in range(1000)])
    assert not agg.minutes and agg.totals("all", T + 86400 * 20).requests == 1000


def test_a_late_event_for_a_closed_hour_counts_everywhere_once() -> None:
    agg = Aggregator()
    agg.add(event(T, prompt_tokens=1, completion_tokens=0, user="a"))
    agg.add(event(T + 2 * 3600, prompt_tokens=2, completion_tokens=0, user="b"))  # closes T's hour
    assert next(iter(agg.hours.values())).folded
    agg.add(event(T + 60, prompt_tokens=4, completion_tokens=0, user="a"))  # late, into the closed hour
    now = T + 2 * 3600 + 1
    for window in ("24h", "period", "all"):
        assert agg.totals(window, now).total_tokens == 7, window
        assert {u: c.total_tokens for u, c in agg.group("user", window, now).items()} == {"a": 5, "b": 2}
    agg.remove(event(T + 60, prompt_tokens=4, completion_tokens=0, user="a"))
    assert agg.totals("all", now).total_tokens == 3 and agg.totals("24h", now).total_tokens == 3


def test_period_starting_on_the_half_hour_splits_its_hour() -> None:
    """Kolkata is UTC+5:30: its month starts at 18:30 UTC, inside an hour bucket."""
    zone = ZoneInfo("Asia/Kolkata")
    boundary = datetime(2026, 12, 1, tzinfo=zone).timestamp()
    assert boundary % 3600 == 1800
    plans = PlanBook(billing_period=Period.parse("month", "Asia/Kolkata"))
    agg = Aggregator(plans)
    agg.add(event(boundary - 60, user="u", prompt_tokens=100, completion_tokens=0))  # November
    agg.add(event(boundary + 60, user="u", prompt_tokens=10, completion_tokens=0))  # December
    agg.add(event(boundary + 7200, user="u", prompt_tokens=1, completion_tokens=0))  # closes the split hour
    now = boundary + 7300
    assert agg.totals("period", now).total_tokens == 11
    assert agg.standings(now)["u"].period_tokens == 11
    assert agg.totals("all", now).total_tokens == 111


def test_one_hour_window_within_the_minutes_has_minute_resolution() -> None:
    agg = Aggregator(clock=lambda: T + 1800)
    agg.add(event(T + 1800 - 4000, user="old"))  # before the minutes: an hour cell
    agg.add(event(T + 1800 - 3000, user="in"))
    agg.add(event(T + 1800 - 3700, user="out"))  # same hour cell as "in", but outside the hour
    assert set(agg.group("user", "1h", T + 1800)) == {"in"}
    assert set(agg.group("user", "24h", T + 1800)) == {"old", "in", "out"}


def test_queries_while_a_backfill_is_read_change_nothing() -> None:
    """The app asks for a snapshot at every tick while its sources still read old records."""
    now = T + 40 * 3600
    events = [event(T + i * 20.0, user=f"u{i % 7}", model="ab"[i % 2]) for i in range(7200)]  # 40 h
    queried, quiet = Aggregator(clock=lambda: now), Aggregator(clock=lambda: now)
    for start in range(0, len(events), 600):
        queried.add_many(events[start:start + 600])
        quiet.add_many(events[start:start + 600])
        queried.overview("24h", now), queried.standings(now), queried.overview("all", now)
    _same_figures(queried, quiet, now)
    assert queried.totals("all", now).requests == 7200


def test_shuffled_events_give_the_figures_of_ordered_ones() -> None:
    """Claude Code transcripts arrive in no time order (nearly every event is late for a closed hour,
    most past the hour retention): counted in any order, queried in between or not, removed again,
    the figures are those of the same events counted in time order."""
    rng = random.Random(11)
    plans = PlanBook(billing_period=Period.parse("month", "Europe/Paris"))
    now = T + 50 * 86400
    events = [event(T + rng.random() * 50 * 86400, user=f"u{rng.randrange(9)}", model=rng.choice("abc"),
                    prompt_tokens=rng.randrange(900), cost=rng.random()) for _ in range(4000)]
    ordered = Aggregator(plans, clock=lambda: now)
    ordered.add_many(sorted(events, key=lambda e: e.ts))
    shuffled = Aggregator(plans, clock=lambda: now)
    for start in range(0, len(events), 300):
        shuffled.add_many(events[start:start + 300])
        if start % 900 == 0:
            shuffled.overview("all", now)  # merges the late cells midway
    gone = events[::7]
    for e in gone:
        shuffled.remove(e)
    ordered.add_many([])
    kept = Aggregator(plans, clock=lambda: now)
    kept.add_many(sorted((e for i, e in enumerate(events) if i % 7), key=lambda e: e.ts))
    for window in WINDOWS:
        a, b = kept.overview(window, now), shuffled.overview(window, now)
        assert a[0].requests == b[0].requests and a[0].total_tokens == b[0].total_tokens, window
        assert {u: c.total_tokens for u, c in a[1]["user"].items()} == {u: c.total_tokens for u, c in b[1]["user"].items()}
        assert abs(a[0].cost - b[0].cost) < 1e-6
    assert {u: s.period_tokens for u, s in kept.standings(now).items()} == {
        u: s.period_tokens for u, s in shuffled.standings(now).items()}
    assert len(ordered.late) == 0 and ordered.totals("all", now).requests == 4000


def test_late_events_of_one_old_hour_around_a_query_all_count() -> None:
    agg = Aggregator()
    agg.add(event(T + 30 * 3600))  # the newest hour: T's hour is past the retention
    agg.add(event(T + 10))
    assert agg.totals("all", T + 30 * 3600).requests == 2  # merges the late cells
    agg.add(event(T + 20))  # the same old hour as the event before the query
    assert agg.totals("all", T + 30 * 3600).requests == 3


def test_history_read_after_newer_records_leaves_the_newest_requests_in_the_ring() -> None:
    agg = Aggregator(recent=10)
    agg.add_many([event(T + 7200 + i, request_id=f"new{i}") for i in range(10)])  # today's file first
    agg.add_many([event(T + i, request_id=f"old{i}") for i in range(50)])  # then yesterday's
    assert [e.request_id for e in agg.recent] == [f"new{i}" for i in range(10)]
    agg.add_many([event(T + 7000, source="ledger", request_id="lagging")])  # a source minutes behind
    agg.add(event(T + 7400, request_id="live"))
    assert [e.request_id for e in agg.recent][-2:] == ["lagging", "live"] and agg.events == 62
