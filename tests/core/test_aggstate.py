"""The aggregator as data: a saved and restored aggregator, or aggregators of shares of the events
merged, give exactly the figures of one aggregator that counted every event itself."""

from __future__ import annotations

import random

import msgspec
import pytest

from tokentop.core.aggregate import Aggregator
from tokentop.core.aggstate import decode, encode
from tokentop.core.event import CounterReading
from tokentop.core.periods import Period
from tokentop.core.plans import Plan, PlanBook

from .helpers import event

T = 1_789_999_200.0
NOW = T + 3 * 86400
WINDOWS = ("5m", "1h", "24h", "period", "all")
PLANS = PlanBook(
    plans={"pro": Plan("pro", 10_000, Period.parse("month", "America/New_York")),
           "day": Plan("day", 5_000, Period.parse("day", "Asia/Tokyo")),
           "burst": Plan("burst", 900, Period.parse("rolling 5h"))},
    assignments={"u1": "day", "u2": "burst"}, default_plan="pro",
    billing_period=Period.parse("month", "Europe/Paris"))


def _events(n: int, seed: int) -> list:
    rng = random.Random(seed)
    return [event(NOW - rng.random() * 3 * 86400, user=f"u{rng.randrange(6)}", model=rng.choice("abc"),
                  platform=rng.choice([None, "web", "ios"]), prompt_tokens=rng.randrange(400),
                  cost=rng.choice([None, rng.random()]), status=rng.choice([None, "ok", "error"]))
            for _ in range(n)]


def _figures(agg: Aggregator) -> tuple:
    def rounded(counts):  # costs to a millionth: summed in another order
        return (*msgspec.structs.astuple(counts)[:13], round(counts.cost, 6), counts.first_ts, counts.last_ts)

    out = []
    for window in WINDOWS:
        totals, groups = agg.overview(window, NOW)
        out.append((window, rounded(totals),
                    {d: {k: rounded(c) for k, c in g.items()} for d, g in groups.items()}))
    out.append(agg.standings(NOW))
    out.append(agg.per_minute("user", NOW))
    out.append(agg.events)
    return tuple(out)


def _reading(at: float, total: int) -> CounterReading:
    return CounterReading(source="api", user="u1", at=at, total_tokens=total)


def test_a_restored_aggregator_counts_on_as_the_original() -> None:
    events = _events(3000, 1)
    original = Aggregator(PLANS, clock=lambda: NOW)
    original.add_many(events[:2000])
    original.set_user_limit("u3", 777, "reported")
    for i in range(5):
        original.add_reading(_reading(NOW - 600 + i, 100 * i))
    restored = Aggregator.from_state(decode(encode(original.to_state())), PLANS, clock=lambda: NOW)
    assert _figures(restored) == _figures(original)
    assert [e.request_id for e in restored.recent] == [e.request_id for e in original.recent]
    assert list(restored.readings[("api", "u1")]) == list(original.readings[("api", "u1")])
    for agg in (original, restored):
        agg.add_many(events[2000:])
        agg.remove(events[2500])
    assert _figures(restored) == _figures(original)


@pytest.mark.parametrize("shares", [2, 3])
@pytest.mark.parametrize("split", ["contiguous", "interleaved"])
@pytest.mark.parametrize("clock", [lambda: NOW, None])
def test_merged_shares_give_the_figures_of_one_reader(shares: int, split: str, clock) -> None:
    events = sorted(_events(4000, shares), key=lambda e: e.ts)
    whole = Aggregator(PLANS, clock=clock)
    parts = [Aggregator(PLANS, clock=clock) for _ in range(shares)]
    for i, e in enumerate(events):
        whole.add(e)
        share = i * shares // len(events) if split == "contiguous" else i % shares
        parts[share].add(e)
    parts[0].add_reading(_reading(NOW - 60, 10))
    whole.add_reading(_reading(NOW - 60, 10))
    merged = Aggregator.from_state(parts[0].to_state(), PLANS, clock=clock)
    for part in parts[1:]:
        merged.merge(Aggregator.from_state(decode(encode(part.to_state())), PLANS, clock=clock))
    # the same buckets are held (none past the retention), and the same figures read from them
    assert (set(merged.hours), set(merged.minutes), merged.minute_floor) == (
        set(whole.hours), set(whole.minutes), whole.minute_floor)
    assert _figures(merged) == _figures(whole)
    assert list(merged.readings[("api", "u1")]) == list(whole.readings[("api", "u1")])
    later = _events(300, 99)
    for agg in (merged, whole):
        agg.add_many(sorted(later, key=lambda e: e.ts))
    assert _figures(merged) == _figures(whole)


def test_a_share_holding_an_hour_still_open_merges_with_one_that_closed_it() -> None:
    early = Aggregator(PLANS)
    early.add(event(T + 10, prompt_tokens=1, completion_tokens=0))  # T's hour is open in this share
    late = Aggregator(PLANS)
    late.add(event(T + 20, prompt_tokens=2, completion_tokens=0))
    late.add(event(T + 7200, prompt_tokens=4, completion_tokens=0))  # ... and closed in this one
    whole = Aggregator(PLANS)
    for ts, tokens in ((T + 10, 1), (T + 20, 2), (T + 7200, 4)):
        whole.add(event(ts, prompt_tokens=tokens, completion_tokens=0))
    early.merge(late)
    for window in ("24h", "period", "all"):
        assert early.totals(window, T + 7300).total_tokens == whole.totals(window, T + 7300).total_tokens == 7


def test_state_of_another_billing_period_is_refused() -> None:
    state = Aggregator(PLANS).to_state()
    with pytest.raises(ValueError):
        Aggregator.from_state(state, PlanBook(billing_period=Period.parse("month", "UTC")))
    with pytest.raises(msgspec.DecodeError):
        decode(encode(state)[:-3])
    with pytest.raises(msgspec.DecodeError):
        decode(b"\x93not a state")
