"""logging_stopped and source_error."""

from __future__ import annotations

from alerts.helpers import rule_settings, situation, stream

from tokentop.core.aggregate import Aggregator
from tokentop.core.alerts import SourceInfo
from tokentop.core.alerts.liveness import logging_stopped, source_error

CFG = rule_settings("logging_stopped")


def test_busy_source_that_stops_is_reported_within_about_a_minute(clock):
    agg = Aggregator()
    stopped_at = clock.now
    stream(agg, clock.now - 1800, stopped_at, 2)
    assert logging_stopped(situation(agg, clock.advance(40)), CFG) == []
    findings = logging_stopped(situation(agg, clock.advance(10)), CFG)
    assert [(f.subject, f.severity) for f in findings] == [("source=gateway", "warning")]
    assert "sent no events for 52s" in findings[0].message and "alerting after 45s" in findings[0].message


def test_source_quiet_at_night_by_habit_is_not_reported(clock):
    """Normal gaps of 20 minutes: 25 minutes of silence is nothing unusual for this source."""
    agg = Aggregator()
    stream(agg, clock.now - 8 * 3600, clock.now, 1200)  # 24 events
    assert logging_stopped(situation(agg, clock.advance(25 * 60)), CFG) == []
    findings = logging_stopped(situation(agg, clock.advance(60 * 60)), CFG)
    assert [f.subject for f in findings] == ["source=gateway"]


def test_source_that_never_had_enough_events_is_not_reported(clock):
    agg = Aggregator()
    stream(agg, clock.now - 100, clock.now, 10)  # 10 < min_events
    assert logging_stopped(situation(agg, clock.advance(3600)), CFG) == []


def test_one_platform_of_a_source_going_silent(clock):
    """Seed 004: the webhook workers stop logging while the playground keeps going."""
    agg = Aggregator()
    stream(agg, clock.now - 1800, clock.now + 600, 5, platform="playground")
    stream(agg, clock.now - 1800, clock.now, 5, platform="instagram")
    findings = logging_stopped(situation(agg, clock.advance(600)), CFG)
    assert [f.subject for f in findings] == ["source=gateway platform=instagram"]
    quiet = rule_settings("logging_stopped", platforms=False)
    assert logging_stopped(situation(agg, clock.now), quiet) == []


def test_source_error_and_stale(clock):
    agg = Aggregator()
    sources = (SourceInfo("gateway"), SourceInfo("ledger", state="error", error="unable to open database"),
               SourceInfo("usage-api", kind="http", state="stale", error="HTTP 503"),
               SourceInfo("gw", state="stale", detail="waiting for /var/log/gw/*.jsonl"))
    findings = source_error(situation(agg, clock.now, *sources), rule_settings("source_error"))
    assert [(f.subject, f.severity) for f in findings] == [("source=ledger", "critical"),
                                                           ("source=usage-api", "warning"), ("source=gw", "warning")]
    assert "unable to open database" in findings[0].message and "HTTP 503" in findings[1].message
    assert "waiting for /var/log/gw/*.jsonl" in findings[2].message


def test_a_failing_source_is_not_also_reported_as_stopped(clock):
    agg = Aggregator()
    stream(agg, clock.now - 1800, clock.now, 2)
    sources = (SourceInfo("gateway", state="error", error="gone"),)
    assert logging_stopped(situation(agg, clock.advance(3600), *sources), CFG) == []


def test_silence_like_yesterdays_at_the_same_time_is_not_reported(clock):
    """Busy by day, silent from 01:00 to 05:00 every night: tonight's silence matches last night's."""
    agg = Aggregator()
    night = clock.now
    stream(agg, night - 25 * 3600, night - 24 * 3600, 60)  # yesterday until 01:00 ...
    stream(agg, night - 20 * 3600, night, 60)  # ... silent until 05:00, then busy all day
    # (Hour buckets are kept 25 h, so yesterday's gap is known while it started less than 25 h ago.)
    assert logging_stopped(situation(agg, clock.advance(1800)), CFG) == []
    assert logging_stopped(situation(agg, clock.advance(1800)), CFG) == []
    findings = logging_stopped(situation(agg, clock.advance(4 * 3600)), CFG)
    assert [f.subject for f in findings] == ["source=gateway"]


def test_sources_whose_silence_means_nobody_used_them_are_not_checked(clock):
    agg = Aggregator()
    stream(agg, clock.now - 1800, clock.now, 2, source="usage-api")
    stream(agg, clock.now - 1800, clock.now, 2, source="claude")
    sources = (SourceInfo("usage-api", kind="http"), SourceInfo("claude", kind="claude"))
    assert logging_stopped(situation(agg, clock.advance(3600), *sources), CFG) == []
    everything = rule_settings("logging_stopped", kinds=["http", "claude"])
    assert len(logging_stopped(situation(agg, clock.now, *sources), everything)) == 2
