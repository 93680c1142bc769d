"""counter_drift: a usage counter against the requests recorded elsewhere, and its period resets."""

from __future__ import annotations

from alerts.helpers import event, reading, rule_settings, situation

from tokentop.core.aggregate import Aggregator, ReadingHistory
from tokentop.core.alerts import SourceInfo
from tokentop.core.alerts.counters import counter_drift
from tokentop.core.periods import Period

SOURCES = (SourceInfo("gateway"), SourceInfo("usage-api", kind="http", role="reference"))
CFG = rule_settings("counter_drift")


def gateway_and_counter(agg: Aggregator, start: float, end: float, counted=lambda e: True, lag: float = 0):
    """A request every 10 s alternating groq/deepseek; the counter is read every 30 s and holds the
    tokens of the requests ``counted`` accepts, as of ``lag`` seconds before the reading."""
    events = []
    providers = ("groq", "deepseek")
    ts, i = start, 0
    while ts <= end:
        if i % 3 == 0:
            total = 5000 + sum(e.total_tokens for e in events if counted(e) and e.ts <= ts - lag)
            agg.add_reading(reading(ts, total_tokens=total, period_tokens=total))
        events.append(event(ts + 1, provider=providers[i % 2], prompt_tokens=400, completion_tokens=200))
        agg.add(events[-1])
        ts += 10
        i += 1


def test_counter_that_agrees_with_the_gateway_is_quiet(clock):
    agg = Aggregator()
    gateway_and_counter(agg, clock.now - 600, clock.now)
    assert counter_drift(situation(agg, clock.now, *SOURCES), CFG) == []


def test_counter_lagging_the_log_by_seconds_is_quiet(clock):
    agg = Aggregator()
    gateway_and_counter(agg, clock.now - 600, clock.now, lag=8)
    assert counter_drift(situation(agg, clock.now, *SOURCES), CFG) == []


def test_bounds_from_minute_cells_when_the_recent_ring_is_short(clock):
    healthy, faulty = Aggregator(recent=5), Aggregator(recent=5)
    gateway_and_counter(healthy, clock.now - 900, clock.now)
    gateway_and_counter(faulty, clock.now - 900, clock.now, counted=lambda e: e.provider != "deepseek")
    assert counter_drift(situation(healthy, clock.now, *SOURCES), CFG) == []
    assert counter_drift(situation(faulty, clock.now, *SOURCES), CFG)


def test_counter_that_misses_a_provider_drifts(clock):
    """Seed 000: incrementUserTokens was never called for DeepSeek."""
    agg = Aggregator()
    gateway_and_counter(agg, clock.now - 600, clock.now, counted=lambda e: e.provider != "deepseek")
    findings = counter_drift(situation(agg, clock.now, *SOURCES), CFG)
    assert [(f.subject, f.severity) for f in findings] == [("source=usage-api user=alice", "warning")]
    assert "grew by" in findings[0].message and "gateway recorded" in findings[0].message


def test_drift_is_visible_within_a_minute(clock):
    agg = Aggregator()
    gateway_and_counter(agg, clock.now - 70, clock.now, counted=lambda e: e.provider != "deepseek")
    assert counter_drift(situation(agg, clock.now, *SOURCES), CFG)


def test_counter_that_stopped_moving_drifts(clock):
    """Seed 003: the dashboard kept serving a stale number while requests went on."""
    agg = Aggregator()
    gateway_and_counter(agg, clock.now - 300, clock.now, counted=lambda e: False)
    findings = counter_drift(situation(agg, clock.now, *SOURCES), CFG)
    assert findings and "grew by 0 tokens" in findings[0].message


def test_counter_without_traffic_elsewhere_is_quiet_below_min_tokens(clock):
    agg = Aggregator()
    agg.add(event(clock.now - 500, user="bob"))
    agg.add_reading(reading(clock.now - 300, total_tokens=1000))
    agg.add_reading(reading(clock.now - 10, total_tokens=1100))
    assert counter_drift(situation(agg, clock.now, *SOURCES), CFG) == []


def test_counter_going_backwards_within_a_period(clock):
    agg = Aggregator()
    agg.add_reading(reading(clock.now - 120, total_tokens=9000, period_tokens=9000))
    agg.add_reading(reading(clock.now - 60, total_tokens=4000, period_tokens=4000))
    findings = counter_drift(situation(agg, clock.now, *SOURCES), CFG)
    assert len(findings) == 1 and "went backwards (total_tokens 9,000 -> 4,000" in findings[0].message


def month_start(now: float) -> float:
    return Period.parse("month").bounds(now)[0]


def test_legitimate_monthly_reset_is_quiet(clock):
    """Seed 002 after the fix: tokens_used_this_month goes back to 0 on the new month."""
    start = month_start(clock.now)
    clock.now = start + 300
    agg = Aggregator()
    agg.add_reading(reading(start - 120, total_tokens=81_000, period_tokens=43_000))
    agg.add_reading(reading(start - 60, total_tokens=81_000, period_tokens=43_000))
    agg.add_reading(reading(start + 60, total_tokens=81_000, period_tokens=0))
    agg.add_reading(reading(start + 240, total_tokens=82_200, period_tokens=1_200))
    agg.add(event(start + 200, prompt_tokens=1000, completion_tokens=200))
    assert counter_drift(situation(agg, clock.now, *SOURCES), CFG) == []


def test_single_counter_that_resets_at_the_boundary_is_not_going_backwards(clock):
    start = month_start(clock.now)
    clock.now = start + 120
    agg = Aggregator()
    agg.add_reading(reading(start - 30, total_tokens=50_000))
    agg.add_reading(reading(start + 30, total_tokens=0))
    assert counter_drift(situation(agg, clock.now, *SOURCES), CFG) == []


def test_monthly_counter_that_never_resets(clock):
    """Seed 002: tokens_used_this_month was not being reset on the new month."""
    start = month_start(clock.now)
    clock.now = start + 300
    agg = Aggregator()
    agg.add_reading(reading(start - 60, total_tokens=81_000, period_tokens=43_000))
    agg.add_reading(reading(start + 240, total_tokens=82_200, period_tokens=44_200))
    agg.add(event(start + 200, prompt_tokens=1000, completion_tokens=200))
    findings = counter_drift(situation(agg, clock.now, *SOURCES), CFG)
    assert len(findings) == 1
    assert "did not reset at the start of the month" in findings[0].message
    assert "kept growing from 43,000" in findings[0].message
    never_resets = rule_settings("counter_drift", resets=False)
    assert counter_drift(situation(agg, clock.now, *SOURCES), never_resets) == []


def test_lazy_reset_gets_a_grace_period(clock):
    """Some systems reset on the first request of the new month: no request yet, no alert yet."""
    start = month_start(clock.now)
    agg = Aggregator()
    agg.add_reading(reading(start - 60, period_tokens=43_000))
    agg.add_reading(reading(start + 60, period_tokens=43_000))
    assert counter_drift(situation(agg, start + 120, *SOURCES), CFG) == []
    agg.add_reading(reading(start + 3650, period_tokens=43_000))
    findings = counter_drift(situation(agg, start + 3700, *SOURCES), CFG)
    assert findings and "still shows 43,000" in findings[0].message


def test_rolling_plan_counters_may_fall(clock):
    from tokentop.core.plans import Plan, PlanBook

    rolling = Plan("hourly", 10_000, Period.parse("rolling 5h"))
    agg = Aggregator(PlanBook({"hourly": rolling}, {"alice": "hourly"}))
    agg.add_reading(reading(clock.now - 120, period_tokens=9000))
    agg.add_reading(reading(clock.now - 60, period_tokens=4000))
    assert counter_drift(situation(agg, clock.now, *SOURCES), CFG) == []


def test_reading_history_stays_bounded_and_keeps_the_reading_before_the_boundary(clock):
    """Three days of readings every 10 s: an hour in full, then one per hour, then one per day."""
    start = month_start(clock.now)
    agg = Aggregator()
    t = start - 2 * 86400
    while t < start + 86400:
        agg.add_reading(reading(t, period_tokens=int(t - start) if t >= start else 40_000 + int(t % 1000)))
        t += 10
    history = list(agg.readings[("usage-api", "alice")])
    assert len(history) <= 360 + 25 + 3 + ReadingHistory.THIN_EVERY
    assert [r.at for r in history] == sorted(r.at for r in history)
    assert max(r.at for r in history if r.at < start) >= start - 3600  # the last hour of the old month
    assert history[-1].at == t - 10
