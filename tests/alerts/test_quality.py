"""accuracy_drop, totals_mismatch, unknown_provider on synthetic streams."""

from __future__ import annotations

from alerts.helpers import event, rule_settings, situation, stream

from tokentop.core.aggregate import Aggregator
from tokentop.core.alerts import SourceInfo
from tokentop.core.alerts.quality import accuracy_drop, totals_mismatch, unknown_provider


def test_accuracy_below_threshold_is_reported_per_provider(clock):
    agg = Aggregator()
    now = clock.now
    stream(agg, now - 120, now, 2, provider="anthropic", model="claude-sonnet-4")
    stream(agg, now - 120, now, 4, provider="azure", model="gpt-4o", token_source="estimated")
    stream(agg, now - 120, now, 4, provider="azure", model="gpt-4o-mini")
    findings = accuracy_drop(situation(agg, now), rule_settings("accuracy_drop"))
    assert [(f.subject, f.severity) for f in findings] == [("provider=azure", "warning")]
    assert "50% of 60 requests" in findings[0].message and "30 estimated" in findings[0].message


def test_model_is_not_reported_again_when_its_provider_is(clock):
    agg = Aggregator()
    stream(agg, clock.now - 100, clock.now, 1, provider="openai", token_source="estimated")
    findings = accuracy_drop(situation(agg, clock.now), rule_settings("accuracy_drop"))
    assert [(f.subject, f.severity) for f in findings] == [("provider=openai", "critical")]


def test_a_single_estimated_request_pages_nobody(clock):
    agg = Aggregator()
    agg.add(event(clock.now - 5, token_source="estimated"))
    stream(agg, clock.now - 60, clock.now, 5)
    assert accuracy_drop(situation(agg, clock.now), rule_settings("accuracy_drop")) == []
    only_estimated = Aggregator()
    stream(only_estimated, clock.now - 60, clock.now, 4, token_source="estimated")  # 15 < min_requests 20
    assert accuracy_drop(situation(only_estimated, clock.now), rule_settings("accuracy_drop")) == []


def test_sharp_drop_against_own_baseline(clock):
    agg = Aggregator()
    now = clock.now
    stream(agg, now - 3000, now - 400, 10)  # an hour of fully reported counts
    stream(agg, now - 240, now, 4)
    stream(agg, now - 240, now, 12, token_source="estimated")  # 25% estimated now
    cfg = rule_settings("accuracy_drop", min_accuracy=0.5, dimensions=["provider"])
    findings = accuracy_drop(situation(agg, now), cfg)
    assert [f.subject for f in findings] == ["provider=openai"]
    assert "down from 100%" in findings[0].message


def test_platform_accuracy(clock):
    agg = Aggregator()
    stream(agg, clock.now - 200, clock.now, 2, platform="playground")
    stream(agg, clock.now - 200, clock.now, 5, platform="widget", token_source="estimated")
    findings = accuracy_drop(situation(agg, clock.now), rule_settings("accuracy_drop", dimensions=["platform"]))
    assert [f.subject for f in findings] == ["platform=widget"]


def test_totals_mismatch_rate(clock):
    agg = Aggregator()
    stream(agg, clock.now - 100, clock.now, 2)
    for i in range(5):
        agg.add(event(clock.now - 50 + i, total_tokens=999, mismatched=True))
    findings = totals_mismatch(situation(agg, clock.now), rule_settings("totals_mismatch"))
    assert [(f.subject, f.severity) for f in findings] == [("source=gateway provider=openai", "warning")]
    assert "5 of 55 requests" in findings[0].message
    tolerant = rule_settings("totals_mismatch", max_rate=0.2)
    assert totals_mismatch(situation(agg, clock.now), tolerant) == []


def test_totals_consistent_is_quiet(clock):
    agg = Aggregator()
    stream(agg, clock.now - 100, clock.now, 1)
    assert totals_mismatch(situation(agg, clock.now), rule_settings("totals_mismatch")) == []


def test_unknown_provider_reported_per_source(clock):
    agg = Aggregator()
    stream(agg, clock.now - 100, clock.now, 5)
    stream(agg, clock.now - 100, clock.now, 10, provider="unknown", model="house-model")
    findings = unknown_provider(situation(agg, clock.now), rule_settings("unknown_provider"))
    assert [f.subject for f in findings] == ["source=gateway"]
    assert "10 of 30 requests" in findings[0].message


def test_endpoint_counter_deltas_never_count_as_unknown_provider(clock):
    agg = Aggregator()
    stream(agg, clock.now - 100, clock.now, 5, source="usage-api", provider="unknown", model="unknown",
           format="endpoint")
    stream(agg, clock.now - 100, clock.now, 5, source="dash", provider="unknown", model="unknown")
    sit = situation(agg, clock.now, "gateway", SourceInfo("usage-api"), SourceInfo("dash", kind="http"))
    assert unknown_provider(sit, rule_settings("unknown_provider")) == []
