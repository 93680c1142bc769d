"""The alert lifecycle: start, escalate, hysteresis on resolve, mutes, recently resolved."""

from __future__ import annotations

from tokentop.core.alerts import AlertEngine, Finding, findings_to_views, parse_alert_settings

DEEPSEEK = Finding("untracked_provider", "warning", "provider=deepseek", "deepseek: 10 requests untracked")


def engine(**lifecycle) -> AlertEngine:
    return AlertEngine(parse_alert_settings({"resolve_after": 3, "resolve_seconds": 20, **lifecycle}))


def test_start_then_stays_active_without_new_transitions(clock):
    e = engine()
    [t] = e.update([DEEPSEEK], clock.now)
    assert (t.kind, t.alert.rule, t.alert.subject, t.alert.since) == ("start", "untracked_provider",
                                                                      "provider=deepseek", clock.now)
    assert e.update([DEEPSEEK], clock.advance(5)) == []
    [active] = e.active
    assert (active.since, active.last_seen) == (clock.now - 5, clock.now)


def test_resolves_only_after_consecutive_clear_evaluations_and_time(clock):
    e = engine()
    e.update([DEEPSEEK], clock.now)
    assert e.update([], clock.advance(5)) == []
    assert e.update([], clock.advance(5)) == []
    assert e.update([], clock.advance(5)) == []  # three clear evaluations, but only 15 s
    [end] = e.update([], clock.advance(5))
    assert end.kind == "end" and end.alert.resolved_at == clock.now
    assert e.active == []
    assert [a.subject for a in e.resolved(clock.now)] == ["provider=deepseek"]


def test_a_flapping_condition_does_not_flap_the_alert(clock):
    e = engine()
    kinds = []
    for i in range(12):
        kinds += [t.kind for t in e.update([DEEPSEEK] if i % 2 == 0 else [], clock.advance(5))]
    assert kinds == ["start"]


def test_reappearing_after_resolution_is_a_new_alert(clock):
    e = engine(resolve_after=1, resolve_seconds=0)
    e.update([DEEPSEEK], clock.now)
    assert [t.kind for t in e.update([], clock.advance(5))] == ["end"]
    [again] = e.update([DEEPSEEK], clock.advance(5))
    assert again.kind == "start" and again.alert.since == clock.now


def test_escalation_is_a_transition_and_de_escalation_is_not(clock):
    e = engine()
    e.update([Finding("quota", "warning", "user=bob", "85%")], clock.now)
    [t] = e.update([Finding("quota", "critical", "user=bob", "104%")], clock.advance(5))
    assert (t.kind, t.alert.severity, t.alert.message) == ("escalate", "critical", "104%")
    assert e.update([Finding("quota", "warning", "user=bob", "90%")], clock.advance(5)) == []
    assert e.active[0].severity == "warning"


def test_mutes_from_config_per_rule_and_subject(clock):
    e = engine(mute=["spike", "quota:user=bob"])
    findings = [Finding("spike", "warning", "user=alice", "x"), Finding("quota", "critical", "user=bob", "x"),
                Finding("quota", "warning", "user=carol", "x")]
    assert [t.alert.subject for t in e.update(findings, clock.now)] == ["user=carol"]


def test_muting_at_runtime_drops_the_active_alert_and_unmute_brings_it_back(clock):
    e = engine()
    e.update([DEEPSEEK], clock.now)
    e.mute("untracked_provider", "provider=deepseek")
    assert e.active == []
    assert e.update([DEEPSEEK], clock.advance(5)) == []
    e.unmute("untracked_provider", "provider=deepseek")
    assert [t.kind for t in e.update([DEEPSEEK], clock.advance(5))] == ["start"]


def test_resolved_alerts_are_forgotten_after_keep_resolved(clock):
    e = engine(resolve_after=1, resolve_seconds=0, keep_resolved=60)
    e.update([DEEPSEEK], clock.now)
    e.update([], clock.advance(1))
    assert len(e.resolved(clock.advance(59))) == 1
    e.update([], clock.advance(2))
    assert e.resolved(clock.now) == []


def test_duplicate_findings_merge_into_the_most_severe(clock):
    e = engine()
    e.update([Finding("counter_drift", "warning", "source=api user=a", "went backwards"),
              Finding("counter_drift", "critical", "source=api user=a", "did not reset")], clock.now)
    [alert] = e.active
    assert alert.severity == "critical" and alert.message == "went backwards; did not reset"


def test_active_alerts_are_ordered_by_severity(clock):
    e = engine()
    e.update([Finding("spike", "warning", "user=a", "x"), Finding("source_error", "critical", "source=s", "x"),
              Finding("quota", "info", "user=b", "x")], clock.now)
    assert [a.severity for a in e.active] == ["critical", "warning", "info"]


def test_single_evaluation_views_apply_mutes(clock):
    settings = parse_alert_settings({"mute": ["spike"]})
    views = findings_to_views([Finding("spike", "warning", "user=a", "x"), DEEPSEEK], clock.now, settings)
    assert [(v.rule, v.since, v.last_seen) for v in views] == [("untracked_provider", clock.now, clock.now)]


def test_a_failing_rule_is_reported_and_the_others_still_run(clock, monkeypatch):
    from alerts.helpers import situation, stream

    from tokentop.core.aggregate import Aggregator
    from tokentop.core.alerts import RULES, evaluate

    def broken(s, cfg):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(RULES, "spike", broken)
    agg = Aggregator()
    stream(agg, clock.now - 100, clock.now, 1, provider="azure", token_source="estimated")
    findings = evaluate(situation(agg, clock.now), parse_alert_settings({}))
    assert {(f.rule, f.subject) for f in findings} == {("accuracy_drop", "provider=azure"), ("spike", "rule=spike")}
    assert "alert rule spike failed: ZeroDivisionError" in next(f.message for f in findings if f.rule == "spike")
