"""quota and spike."""

from __future__ import annotations

from alerts.helpers import event, rule_settings, situation, stream

from tokentop.core.aggregate import Aggregator
from tokentop.core.alerts import SourceInfo
from tokentop.core.alerts.usage import quota, spike
from tokentop.core.periods import Period
from tokentop.core.plans import Plan, PlanBook

MONTH = Period.parse("month")
BOOK = PlanBook({"free": Plan("free", 50_000, MONTH)}, {}, "free")


def test_quota_warning_and_critical(clock):
    agg = Aggregator(BOOK)
    agg.add(event(clock.now - 3 * 86400, user="alice", prompt_tokens=41_000, completion_tokens=0))
    agg.add(event(clock.now - 3 * 86400, user="bob", prompt_tokens=51_000, completion_tokens=0))
    agg.add(event(clock.now - 3 * 86400, user="carol", prompt_tokens=1_000, completion_tokens=0))
    findings = quota(situation(agg, clock.now), rule_settings("quota"))
    assert [(f.subject, f.severity) for f in findings] == [("user=alice", "warning"), ("user=bob", "critical")]
    assert "41,000 of 50,000 tokens (82% of plan free)" in findings[0].message


def test_projected_exhaustion(clock):
    start, end = MONTH.bounds(clock.now)
    clock.now = min(end - 20 * 3600, start + 10 * 86400)
    agg = Aggregator(BOOK)
    agg.add(event(clock.now - 86400, user="alice", prompt_tokens=30_000, completion_tokens=0))
    stream(agg, clock.now - 3000, clock.now, 60, user="alice", prompt_tokens=100, completion_tokens=0)
    findings = quota(situation(agg, clock.now), rule_settings("quota"))
    assert [(f.subject, f.severity) for f in findings] == [("user=alice", "warning")]
    assert "will reach the limit in" in findings[0].message
    assert quota(situation(agg, clock.now), rule_settings("quota", projection_horizon=3600)) == []


def test_users_without_limit_or_far_from_it_are_quiet(clock):
    agg = Aggregator(PlanBook({"free": Plan("free", 50_000, MONTH)}, {"carol": "free"}))
    agg.add(event(clock.now - 60, user="alice", prompt_tokens=10**7))
    stream(agg, clock.now - 600, clock.now, 60, user="carol")
    assert quota(situation(agg, clock.now), rule_settings("quota")) == []


def test_spike_above_own_baseline(clock):
    agg = Aggregator()
    stream(agg, clock.now - 32 * 60, clock.now - 120, 10, user="alice")  # ~900 tokens/min
    stream(agg, clock.now - 32 * 60, clock.now, 10, user="bob")
    stream(agg, clock.now - 100, clock.now, 1, user="alice", prompt_tokens=2000)
    findings = spike(situation(agg, clock.now), rule_settings("spike"))
    assert [f.subject for f in findings] == ["user=alice", "provider=openai"]
    assert "tokens/min over the last 2m" in findings[0].message


def test_new_user_or_steady_load_is_not_a_spike(clock):
    agg = Aggregator()
    stream(agg, clock.now - 100, clock.now, 1, user="newcomer", prompt_tokens=5000)  # no baseline
    stream(agg, clock.now - 32 * 60, clock.now, 1, user="steady", prompt_tokens=2000)  # busy but steady
    assert spike(situation(agg, clock.now), rule_settings("spike")) == []


def test_spike_counts_primary_sources_only(clock):
    agg = Aggregator()
    stream(agg, clock.now - 32 * 60, clock.now, 10, user="alice")
    stream(agg, clock.now - 100, clock.now, 1, user="alice", source="ledger", prompt_tokens=5000)
    sit = situation(agg, clock.now, SourceInfo("gateway"), SourceInfo("ledger", role="reference"))
    assert spike(sit, rule_settings("spike")) == []
