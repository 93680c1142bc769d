"""The key cap: beyond max_keys distinct names per dimension the least used fold into ``(other)``;
totals stay exact (checked against an uncapped aggregator and against sums over the events), memory
stays bounded, heavy names are kept, pinned users never fold."""

from __future__ import annotations

import random

import orjson
import pytest

from tokentop.config import parse_config
from tokentop.core.aggregate import Aggregator
from tokentop.core.cells import MODEL, PLATFORM, PROVIDER, USER
from tokentop.core.cells import ANY
from tokentop.core.counts import Counts
from tokentop.core.keycap import OTHER, KeyCap
from tokentop.core.snapshot import take_snapshot
from tokentop.core.summaries import Summary

from .helpers import event

T = 1_789_999_200.0  # an hour boundary
WINDOWS = ("5m", "1h", "24h", "period", "all")


def mixed_stream(seed: int = 7, heavy: int = 5, oneoff: int = 4000, hours: float = 30) -> list:
    """Heavy users (many requests each) among a flood of one-off users and models, over ``hours``."""
    rng = random.Random(seed)
    events = []
    names = [(f"heavy-{i}", 400) for i in range(heavy)] + [(f"once-{i}", 1) for i in range(oneoff)]
    slots = [name for name, times in names for _ in range(times)]
    rng.shuffle(slots)
    for i, user in enumerate(slots):
        model = "gpt-4o" if user.startswith("heavy") else f"model-{rng.randrange(3000)}"
        events.append(event(T + i * hours * 3600 / len(slots), user=user, model=model,
                            provider=rng.choice(["openai", "groq"]), platform=rng.choice(["", "web", "ios"]),
                            prompt_tokens=rng.randrange(1, 500), completion_tokens=rng.randrange(0, 200)))
    return events


def feed(agg: Aggregator, events: list, batch: int = 997) -> None:
    for start in range(0, len(events), batch):
        agg.add_many(events[start:start + batch])


@pytest.mark.parametrize("window", ["period", "all"])
def test_totals_and_unfolded_groupings_stay_exact(window):
    events = mixed_stream()
    capped, uncapped = Aggregator(max_keys=50), Aggregator(max_keys=10**9)
    feed(capped, events)
    feed(uncapped, events)
    now = events[-1].ts + 30
    assert capped.totals(window, now) == uncapped.totals(window, now)
    assert capped.totals(window, now).total_tokens == sum(e.total_tokens for e in events)
    for dimension in ("source", "provider", "user", "model", "platform"):
        folded, full = capped.group(dimension, window, now), uncapped.group(dimension, window, now)
        assert sum(c.total_tokens for c in folded.values()) == sum(c.total_tokens for c in full.values())
        assert sum(c.requests for c in folded.values()) == sum(c.requests for c in full.values())
        for name, counts in folded.items():  # a name kept shows no more than it used
            if OTHER not in name:
                assert counts.total_tokens <= full[name].total_tokens
    assert capped.group("provider", window, now) == uncapped.group("provider", window, now)


@pytest.mark.parametrize("window, seconds", [("5m", 300), ("1h", 3600), ("24h", 86400)])
def test_rolling_windows_differ_at_most_by_the_bucket_straddling_their_start(window, seconds):
    """A bucket straddling a rolling window's start counts each cell by its last event (as without
    the cap); a folded cell merges several names, so only that one bucket can count differently."""
    events = mixed_stream()
    capped, uncapped = Aggregator(max_keys=50), Aggregator(max_keys=10**9)
    feed(capped, events)
    feed(uncapped, events)
    now = events[-1].ts + 30
    hour = (now - seconds) // 3600 * 3600
    straddling = sum(e.total_tokens for e in events if hour <= e.ts < hour + 3600)
    whole = sum(e.total_tokens for e in events if e.ts >= hour + 3600)
    got = capped.totals(window, now).total_tokens
    assert abs(got - uncapped.totals(window, now).total_tokens) <= straddling
    assert whole <= got <= whole + straddling


def test_heavy_users_are_kept_and_the_flood_is_folded():
    events = mixed_stream()
    agg = Aggregator(max_keys=50)
    feed(agg, events)
    now = events[-1].ts
    users = agg.group("user", "all", now)
    true = {}
    for e in events:
        true[e.user] = true.get(e.user, 0) + e.total_tokens
    heavy = {u for u in true if u.startswith("heavy")}
    assert heavy <= set(users)  # every heavy user is shown by name ...
    for user in heavy:  # ... with most of its usage (what it used before it was held is in (other))
        assert users[user].total_tokens >= 0.8 * true[user]
    assert len(users) <= agg.keycap.room + 1 and OTHER in users
    agg.fold_keys(down_to_limit=True)  # (as a report does)
    assert len(agg.group("user", "all", now)) == 50 + 1
    assert heavy <= set(agg.group("user", "all", now))
    assert agg.keycap.folded["user"] >= 4000 - 50
    models = agg.group("model", "all", now)
    assert "openai/(other)" in models and "groq/(other)" in models and "openai/gpt-4o" in models


def test_memory_is_bounded_by_the_cap_not_the_names():
    events = mixed_stream(oneoff=20_000)
    agg = Aggregator(max_keys=50)
    feed(agg, events)
    cap = agg.keycap
    for cells in agg.every_cells():
        assert len({key[USER] for key in cells.by_user}) <= cap.room + 1
    assert all(len(values) <= cap.room for values in cap.live.values())
    assert all(len(tally) <= 50 for tally in cap.tally.values())
    user_keys = [k for k in cap.known if k[USER]]
    assert len(user_keys) <= cap.room
    assert len(cap.known) - len(user_keys) <= len(cap.live[PROVIDER]) * len(cap.live[MODEL]) * (len(cap.live[PLATFORM]) + 1)


def test_a_report_shows_at_most_max_keys_names():
    agg = Aggregator(max_keys=20)
    # 20 users fill the cap; 4 newcomers each outspend the floor and are held: 24 held (room: 25)
    feed(agg, [event(T + i, user=f"u{i}", prompt_tokens=10, completion_tokens=0) for i in range(20)])
    feed(agg, [event(T + 100 + i, user=f"big{i}", prompt_tokens=1000, completion_tokens=0) for i in range(4)])
    assert len(agg.keycap.live[USER]) == 24
    doc = take_snapshot(agg, T + 200).to_json()
    assert len(doc["by_user"]) == 20 + 1  # the 20 most used, and (other) for the 4 least
    assert all(f"big{i}" in doc["by_user"] for i in range(4))
    assert doc["key_cap"]["folded"]["user"] == 4 + 4  # 4 newcomers tallied, then 4 folded out
    assert doc["by_user"]["(other)"]["total_tokens"] == 4 * 10
    assert doc["totals"]["total_tokens"] == 20 * 10 + 4 * 1000


def test_pinned_users_never_fold_and_other_has_no_plan():
    config = parse_config({"plans": {"free": {"limit": 1000}, "pro": {"limit": 10**6}},
                           "users": {"default_plan": "free", "plans": {"vip": "pro"}}})
    agg = Aggregator(config.plans, max_keys=10)
    agg.add(event(T, user="vip", prompt_tokens=1, completion_tokens=0))  # the least used of all
    agg.set_user_limit("reported", 500)
    feed(agg, [event(T + 1 + i, user=f"u{i}", prompt_tokens=100) for i in range(200)])
    standings = agg.standings(T + 300)
    assert "vip" in standings and standings["vip"].plan == "pro"
    assert "reported" in standings and standings["reported"].limit == 500
    other = standings[OTHER]  # folded users: no plan, no limit, so no quota gauge or alert of their own
    assert other.plan is None and other.limit is None and other.period_tokens > 0


def test_own_period_state_of_folded_users_is_dropped():
    # a default plan on a daily period (the billing period is a month): per-user period counters
    config = parse_config({"plans": {"daily": {"limit": 1000, "period": "day"}}, "users": {"default_plan": "daily"}})
    agg = Aggregator(config.plans, max_keys=20)
    feed(agg, [event(T + i, user=f"u{i}") for i in range(3000)])
    assert len(agg._own_period) <= agg.keycap.room + 1
    assert len({user for user, _ in agg._period_tokens}) <= agg.keycap.room + 1


def test_retracting_an_event_of_a_folded_user_keeps_totals_exact():
    events = [event(T + i, user=f"u{i}", request_id=f"r{i}") for i in range(500)]
    capped, uncapped = Aggregator(max_keys=10), Aggregator(max_keys=10**9)
    feed(capped, events)
    feed(uncapped, events)
    for e in events[::7]:
        capped.remove(e)
        uncapped.remove(e)
    now = T + 600
    assert capped.totals("all", now) == uncapped.totals("all", now)
    assert sum(c.requests for c in capped.group("user", "all", now).values()) == 500 - len(events[::7])
    assert all(c.requests >= 0 for c in capped.group("user", "all", now).values())


def test_the_state_is_plain_data_that_round_trips_and_merges():
    agg = Aggregator(max_keys=10)
    feed(agg, [event(T + i, user=f"u{i}", model=f"m{i % 30}") for i in range(100)])
    data = orjson.loads(orjson.dumps(agg.keycap.to_dict()))  # plain JSON values only
    again = KeyCap.from_dict(data, keys=[k for cells in agg.every_cells() for k in (*cells.by_key, *cells.by_user)])
    assert again.to_dict() == agg.keycap.to_dict()
    other = KeyCap(10)
    other.merge_dict(data)
    other.merge_dict(data)
    assert other.folded == {name: 2 * n for name, n in agg.keycap.folded.items()}
    assert other.live == agg.keycap.live


def test_history_summed_by_a_database_goes_through_the_cap_too():
    """A PostgreSQL source hands over one summary per (key, span): a table of 3,000 users must not
    bring 3,000 cells back."""
    summaries = []
    for i in range(3000):
        counts = Counts(requests=2, prompt_tokens=10 + i % 7, total_tokens=10 + i % 7, actual=2,
                        first_ts=T + i, last_ts=T + i + 1)
        summaries.append(Summary("by_user", ("pg", ANY, ANY, f"u{i}", ANY), counts))
        summaries.append(Summary("by_key", ("pg", "openai", "gpt-4o", ANY, ""), Counts(
            requests=2, prompt_tokens=counts.prompt_tokens, total_tokens=counts.total_tokens, actual=2,
            first_ts=T + i, last_ts=T + i + 1)))
    agg = Aggregator(max_keys=20)
    agg.add_summaries(summaries)
    doc = take_snapshot(agg, T + 4000).to_json()
    assert len(doc["by_user"]) == 20 + 1 and doc["key_cap"]["folded"]["user"] >= 3000 - 20
    assert doc["totals"]["total_tokens"] == sum(10 + i % 7 for i in range(3000))
    assert sum(e["total_tokens"] for e in doc["by_user"].values()) == doc["totals"]["total_tokens"]


def test_a_capped_aggregator_saved_and_restored_counts_on_as_the_original():
    from tokentop.core.aggstate import decode, encode

    events = mixed_stream(seed=3, oneoff=1500, hours=4)
    original = Aggregator(max_keys=40)
    feed(original, events[:2000])
    restored = Aggregator.from_state(decode(encode(original.to_state())), original.plans, max_keys=40)
    assert restored.keycap.to_dict() == original.keycap.to_dict()
    for agg in (original, restored):
        feed(agg, events[2000:])
    now = events[-1].ts + 30
    for window in WINDOWS:
        assert restored.overview(window, now) == original.overview(window, now)
    assert restored.keycap.folded == original.keycap.folded


def test_capped_shares_merged_keep_exact_totals_and_the_cap():
    """A parallel backfill's workers each hold a capped aggregator; merged, the names either held are
    folded back to the cap and no token is lost."""
    from tokentop.core.aggstate import decode, encode

    events = mixed_stream(seed=5, oneoff=3000, hours=6)
    shares = [Aggregator(max_keys=30) for _ in range(3)]
    for i, e in enumerate(events):
        shares[i % 3].add(e)
    merged = Aggregator.from_state(decode(encode(shares[0].to_state())), shares[0].plans, max_keys=30)
    for share in shares[1:]:
        merged.merge(Aggregator.from_state(decode(encode(share.to_state())), share.plans, max_keys=30))
    now = events[-1].ts + 30
    assert merged.totals("all", now).total_tokens == sum(e.total_tokens for e in events)
    assert merged.totals("all", now).requests == len(events)
    for dimension, slot in (("user", USER), ("model", MODEL)):
        assert len(merged.keycap.live[slot]) <= merged.keycap.room
        grouped = merged.group(dimension, "all", now)
        assert sum(c.total_tokens for c in grouped.values()) == sum(e.total_tokens for e in events)
    assert all(f"heavy-{i}" in merged.keycap.live[USER] for i in range(5))  # the heavy users survive


def test_a_lower_cap_than_the_saved_state_folds_on_restore():
    from tokentop.core.aggstate import decode, encode

    agg = Aggregator(max_keys=100)
    feed(agg, [event(T + i, user=f"u{i % 80}", prompt_tokens=1 + i % 80) for i in range(800)])
    restored = Aggregator.from_state(decode(encode(agg.to_state())), agg.plans, max_keys=20)
    assert len(restored.keycap.live[USER]) <= restored.keycap.room
    assert restored.totals("all", T + 900) == agg.totals("all", T + 900)
