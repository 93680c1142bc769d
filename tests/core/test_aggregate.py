"""Aggregation with an injected clock: groups, windows and their edges, folding, retention, retraction."""

from __future__ import annotations

import random

import pytest

from tokentop.core.aggregate import MINUTE_RETENTION, Aggregator

from .helpers import event

T = 1_789_999_200.0  # an hour boundary (divisible by 3600)
assert T % 3600 == 0


def test_groups_by_every_dimension() -> None:
    agg = Aggregator()
    agg.add(event(T, user="a", provider="openai", model="gpt-4o", platform="ios", source="gw"))
    agg.add(event(T + 1, user="a", provider="anthropic", model="claude", platform="web", source="gw",
                  prompt_tokens=100, completion_tokens=0))
    agg.add(event(T + 2, user="b", provider="openai", model="gpt-4o", source="db", token_source="estimated"))
    now = T + 10
    assert {k: c.requests for k, c in agg.group("provider", "all", now).items()} == {"openai": 2, "anthropic": 1}
    assert {k: c.total_tokens for k, c in agg.group("model", "all", now).items()} == {
        "openai/gpt-4o": 30, "anthropic/claude": 100}
    assert {k: c.requests for k, c in agg.group("user", "all", now).items()} == {"a": 2, "b": 1}
    assert {k: c.requests for k, c in agg.group("platform", "all", now).items()} == {"ios": 1, "web": 1, "": 1}
    assert {k: c.requests for k, c in agg.group("source", "all", now).items()} == {"gw": 2, "db": 1}
    only_gw = agg.group("provider", "all", now, lambda s: s == "gw")
    assert {k: c.requests for k, c in only_gw.items()} == {"openai": 1, "anthropic": 1}
    assert agg.totals("all", now).total_tokens == 130
    assert agg.totals("all", now, lambda s: s == "db").total_tokens == 15


def test_event_without_user_is_grouped_as_unknown() -> None:
    agg = Aggregator()
    agg.add(event(T))
    assert list(agg.group("user", "all", T)) == ["unknown"]


def test_accuracy_is_actual_over_all_requests() -> None:
    agg = Aggregator()
    for source in ("actual", "actual", "estimated", "missing"):
        agg.add(event(T, provider="groq", token_source=source))
    agg.add(event(T, provider="openai"))
    groups = agg.group("provider", "all", T)
    assert groups["groq"].accuracy == 0.5
    assert (groups["groq"].actual, groups["groq"].estimated, groups["groq"].missing) == (2, 1, 1)
    assert groups["openai"].accuracy == 1.0
    assert agg.totals("all", T).accuracy == pytest.approx(0.6)
    assert Aggregator().totals("all", T).accuracy is None


def test_counts_track_errors_mismatches_cache_hits_and_cost() -> None:
    agg = Aggregator()
    agg.add(event(T, status="error", cost=0.5))
    agg.add(event(T, error="boom", mismatched=True, cache_hit=True, cost=0.25))
    agg.add(event(T, status="success"))
    c = agg.totals("all", T)
    assert (c.errors, c.mismatched, c.cache_hits, c.cost) == (2, 1, 1, 0.75)
    assert (c.first_ts, c.last_ts) == (T, T)


@pytest.mark.parametrize(("window", "seconds"), [("5m", 300), ("1h", 3600), ("24h", 86400)])
def test_window_edges(window: str, seconds: int) -> None:
    agg = Aggregator()
    now = T + 2 * 86400  # an hour boundary, so every edge falls on a bucket boundary
    agg.add(event(now - seconds - 1, user="outside"))
    agg.add(event(now - seconds, user="edge"))
    agg.add(event(now - 1, user="inside"))
    users = set(agg.group("user", window, now))
    assert users == {"edge", "inside"}
    assert set(agg.group("user", "all", now)) == {"outside", "edge", "inside"}


def test_windows_move_with_the_clock(clock) -> None:
    clock.now = T
    agg = Aggregator()
    agg.add(event(clock.now, prompt_tokens=1, completion_tokens=0))
    assert agg.totals("5m", clock.now).requests == 1
    clock.advance(301)
    assert agg.totals("5m", clock()).requests == 0
    assert agg.totals("1h", clock()).requests == 1
    clock.advance(3600)
    assert agg.totals("1h", clock()).requests == 0
    assert agg.totals("24h", clock()).requests == 1
    clock.advance(86400)
    assert agg.totals("24h", clock()).requests == 0
    assert agg.totals("all", clock()).requests == 1


def test_folding_minutes_into_hours_keeps_totals_exact() -> None:
    rng = random.Random(7)
    agg = Aggregator()
    expected = 0
    for i in range(3000):
        ts = T + i * 2.0  # 100 minutes of events
        e = event(ts, user=f"u{rng.randrange(20)}", prompt_tokens=rng.randrange(1000), completion_tokens=3)
        expected += e.total_tokens
        agg.add(e)
    now = T + 6000
    assert agg.hours, "old minutes were folded"
    assert all(m >= now // 60 - MINUTE_RETENTION - 1 for m in agg.minutes)
    assert agg.totals("24h", now).total_tokens == expected
    assert agg.totals("all", now).total_tokens == expected
    assert sum(c.total_tokens for c in agg.group("user", "24h", now).values()) == expected
    assert agg.totals("24h", now).requests == 3000


def test_hour_retention_drops_old_buckets_but_all_time_stays() -> None:
    agg = Aggregator(hour_retention=25)
    agg.add(event(T))
    agg.add(event(T + 30 * 3600))
    assert T // 3600 not in {hour for hour, _ in agg.hours}
    assert agg.totals("24h", T + 30 * 3600).requests == 1
    assert agg.totals("all", T + 30 * 3600).requests == 2


def test_per_minute_series() -> None:
    agg = Aggregator()
    now = T + 600
    agg.add(event(now - 120, provider="openai", prompt_tokens=10, completion_tokens=0))
    agg.add(event(now - 115, provider="openai", prompt_tokens=5, completion_tokens=0))
    agg.add(event(now, provider="anthropic", model="claude", prompt_tokens=7, completion_tokens=0))
    series = agg.per_minute("provider", now, minutes=5)
    assert series == {"openai": [0, 0, 15, 0, 0], "anthropic": [0, 0, 0, 0, 7]}
    assert agg.per_minute("model", now, minutes=1) == {"anthropic/claude": [7]}


def test_remove_restores_every_window_and_standing() -> None:
    agg = Aggregator()
    keep = event(T, user="u", prompt_tokens=10, completion_tokens=0)
    agg.add(keep)
    before = {w: agg.totals(w, T + 5).to_dict() for w in ("5m", "1h", "24h", "period", "all")}
    before_used = agg.standings(T + 5)["u"].period_tokens
    superseded = event(T + 1, user="u", prompt_tokens=99, completion_tokens=1, token_source="estimated")
    agg.add(superseded)
    agg.remove(superseded)
    after = {w: agg.totals(w, T + 5).to_dict() for w in ("5m", "1h", "24h", "period", "all")}
    assert after == before
    assert agg.standings(T + 5)["u"].period_tokens == before_used
    assert agg.events == 1 and list(agg.recent) == [keep]


def test_remove_of_a_folded_event() -> None:
    agg = Aggregator()
    old = event(T, prompt_tokens=50, completion_tokens=0)
    agg.add(old)
    agg.add(event(T + 7200))
    agg.remove(old)
    assert agg.totals("24h", T + 7200).total_tokens == 15
    assert agg.totals("all", T + 7200).total_tokens == 15


def test_memory_stays_bounded_by_keys_not_events() -> None:
    """200k events over 3 days of event time, 500 users: time cells stop growing once retention is full."""
    rng = random.Random(1)
    agg = Aggregator(recent=100)
    users = [f"user{i}" for i in range(500)]
    models = [("openai", "gpt-4o"), ("anthropic", "claude"), ("gemini", "gemini-2.5")]
    span = 3 * 86400
    n = 200_000
    sizes = []
    for i in range(n):
        provider, model = models[i % 3]
        agg.add(event(T + i * span / n, user=rng.choice(users), provider=provider, model=model))
        if i in (n * 2 // 3, n - 1):
            sizes.append((sum(map(len, agg.minutes.values())), sum(map(len, agg.hours.values())), len(agg.minutes),
                          len(agg.hours)))
    (minute_cells_day2, hour_cells_day2, minutes_day2, hours_day2), (minute_cells, hour_cells, minutes, hours) = sizes
    assert minutes <= MINUTE_RETENTION + 2 and hours <= agg.hour_retention + 1
    assert minutes_day2 == minutes and hours_day2 == hours
    assert hour_cells <= hour_cells_day2 * 1.1 and minute_cells <= minute_cells_day2 * 1.1
    assert len(agg.recent) == 100
    assert agg.totals("all", T + span).requests == n


def test_one_hour_window_off_the_hour_leaves_out_older_folded_minutes() -> None:
    agg = Aggregator()
    now = T + 1800  # half past: the hour bucket before holds events both in and out of the window
    agg.add(event(now - 4200, user="70 minutes ago"))
    agg.add(event(now - 600, user="10 minutes ago"))
    assert set(agg.group("user", "1h", now)) == {"10 minutes ago"}
    assert set(agg.group("user", "24h", now)) == {"70 minutes ago", "10 minutes ago"}


def test_counts_merge_adds_every_field_and_keeps_the_time_range() -> None:
    from tokentop.core.counts import COUNTER_FIELDS, Counts

    a, b = Counts(), Counts()
    a.add(event(T, cached_tokens=1, reasoning_tokens=2, cache_write_tokens=3, cost=0.5, status="error",
                mismatched=True, cache_hit=True))
    b.add(event(T + 9, token_source="estimated"))
    b.add(event(T - 9, token_source="missing", prompt_tokens=0, completion_tokens=0))
    merged = Counts()
    merged.merge(a)
    merged.merge(b)
    for name in COUNTER_FIELDS:
        assert getattr(merged, name) == getattr(a, name) + getattr(b, name), name
    assert (merged.first_ts, merged.last_ts) == (T - 9, T + 9)
    assert merged.to_dict()["requests"] == 3 and set(merged.to_dict()) == {*COUNTER_FIELDS, "accuracy"}


def test_late_events_for_folded_minutes_still_count_exactly() -> None:
    agg = Aggregator()
    agg.add(event(T + 10, prompt_tokens=1, completion_tokens=0))
    agg.add(event(T + 70, prompt_tokens=2, completion_tokens=0))  # same key, next minute, same hour
    agg.add(event(T + 3 * 3600, prompt_tokens=4, completion_tokens=0))  # folds both into one hour cell
    agg.add(event(T + 20, prompt_tokens=8, completion_tokens=0))  # late: its minute was folded
    agg.add(event(T + 80, prompt_tokens=16, completion_tokens=0))
    now = T + 3 * 3600 + 5
    assert agg.totals("24h", now).total_tokens == 31
    assert agg.totals("all", now).total_tokens == 31
    assert agg.totals("period", now).total_tokens == 31
    agg.advance(now + 7200)
    assert not agg.minutes and agg.totals("all", now + 7200).total_tokens == 31
    for family in ("by_key", "by_user"):
        assert sum(c.total_tokens for _, c in agg.all_cells(family)) == 31


def test_one_sources_backfill_does_not_push_anothers_requests_out_of_the_recent_ones() -> None:
    """The demo's first screen: the log's history is read, then the ledger's (a reference source, not
    shown in Recent requests); the log's newest requests must still be there to show."""
    agg = Aggregator(recent=1000)
    agg.add_many([event(T + i, source="gateway", request_id=f"g{i}") for i in range(300)])
    agg.add_many([event(T + i, source="ledger", request_id=f"l{i}") for i in range(2000)])
    recent = agg.recent_requests()
    assert sum(1 for e in recent if e.source == "gateway") == 300
    assert sum(1 for e in recent if e.source == "ledger") == 1000
    assert [e.ts for e in recent] == sorted(e.ts for e in recent)  # oldest first, by time
    agg.remove(recent[-1])
    assert recent[-1] not in agg.recent_requests() and recent[-1] not in agg.recent
