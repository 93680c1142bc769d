"""untracked_provider: usage that was made but not recorded (seeds 000 and 004)."""

from __future__ import annotations

from alerts.helpers import event, rule_settings, situation, stream

from tokentop.core.aggregate import Aggregator
from tokentop.core.alerts import SourceInfo
from tokentop.core.alerts.untracked import untracked_provider

GATEWAY, LEDGER = SourceInfo("gateway"), SourceInfo("ledger", kind="sqlite", role="reference")


def test_requests_without_usage_are_reported(clock):
    agg = Aggregator()
    stream(agg, clock.now - 100, clock.now, 5, provider="groq")
    stream(agg, clock.now - 100, clock.now, 10, provider="deepseek", token_source="missing",
           prompt_tokens=0, completion_tokens=0)
    findings = untracked_provider(situation(agg, clock.now), rule_settings("untracked_provider"))
    assert [f.subject for f in findings] == ["provider=deepseek"]
    assert "10 of 10 requests arrived without usage" in findings[0].message


def test_zero_tokens_without_cache_hit_are_reported(clock):
    agg = Aggregator()
    stream(agg, clock.now - 100, clock.now, 10, provider="openrouter", prompt_tokens=0, completion_tokens=0)
    findings = untracked_provider(situation(agg, clock.now), rule_settings("untracked_provider"))
    assert [f.subject for f in findings] == ["provider=openrouter"]
    assert "recorded 0 tokens" in findings[0].message


def test_cache_hits_and_failures_with_zero_tokens_are_legitimate(clock):
    """Seed 000: 'If an LLM response is served from cache, tokens = 0 (correct behavior)'."""
    agg = Aggregator()
    stream(agg, clock.now - 100, clock.now, 5, provider="groq")
    stream(agg, clock.now - 100, clock.now, 5, provider="groq", cache_hit=True, prompt_tokens=0,
           completion_tokens=0)
    stream(agg, clock.now - 100, clock.now, 5, provider="groq", status="429", error="rate limited",
           prompt_tokens=0, completion_tokens=0)
    assert untracked_provider(situation(agg, clock.now), rule_settings("untracked_provider")) == []


def test_provider_in_gateway_never_in_ledger(clock):
    """Seed 000: DeepSeek calls never incremented the counter."""
    agg = Aggregator()
    for provider in ("groq", "gemini", "deepseek"):
        stream(agg, clock.now - 300, clock.now, 10, provider=provider)
    for provider in ("groq", "gemini"):
        stream(agg, clock.now - 300, clock.now, 10, provider=provider, source="ledger")
    findings = untracked_provider(situation(agg, clock.now, GATEWAY, LEDGER),
                                  rule_settings("untracked_provider", dimensions=["provider"]))
    assert [(f.subject, f.severity) for f in findings] == [("provider=deepseek source=ledger", "critical")]
    assert "30 requests" in findings[0].message and "none recorded in ledger" in findings[0].message


def test_platform_whose_workers_never_logged(clock):
    """Seed 004: the webhook queue workers (instagram, facebook) never wrote usage_logs."""
    agg = Aggregator()
    for platform in ("playground", "instagram", "facebook"):
        stream(agg, clock.now - 300, clock.now, 15, platform=platform)
    stream(agg, clock.now - 300, clock.now, 15, platform="playground", source="ledger")
    findings = untracked_provider(situation(agg, clock.now, GATEWAY, LEDGER), rule_settings("untracked_provider"))
    by_subject = {f.subject: f.severity for f in findings}
    assert by_subject["platform=facebook source=ledger"] == by_subject["platform=instagram source=ledger"] == "critical"
    # The same shortfall also shows per provider and user (one third recorded): a warning, not noise.
    assert by_subject["provider=openai source=ledger"] == by_subject["user=alice source=ledger"] == "warning"
    assert "playground" not in " ".join(by_subject)


def test_partially_recorded_is_a_warning(clock):
    agg = Aggregator()
    stream(agg, clock.now - 300, clock.now, 5, provider="openai")
    stream(agg, clock.now - 300, clock.now, 20, provider="openai", source="ledger")
    findings = untracked_provider(situation(agg, clock.now, GATEWAY, LEDGER),
                                  rule_settings("untracked_provider", dimensions=["provider"]))
    assert [(f.subject, f.severity) for f in findings] == [("provider=openai source=ledger", "warning")]


def test_sources_that_agree_are_quiet(clock):
    agg = Aggregator()
    for source in ("gateway", "ledger"):
        for platform in ("instagram", "telegram"):
            stream(agg, clock.now - 300, clock.now, 7, platform=platform, source=source, user=f"u-{platform}")
    sit = situation(agg, clock.now, GATEWAY, LEDGER)
    assert untracked_provider(sit, rule_settings("untracked_provider")) == []


def test_reference_without_providers_is_only_compared_per_user(clock):
    """A usage counter has users but no provider: comparing providers with it would be noise."""
    agg = Aggregator()
    stream(agg, clock.now - 300, clock.now, 10, provider="deepseek", user="bob")
    stream(agg, clock.now - 300, clock.now, 30, source="usage-api", provider="unknown", model="unknown",
           user="bob", format="endpoint", prompt_tokens=0, completion_tokens=0, total_tokens=450)
    counter = SourceInfo("usage-api", kind="http", role="reference")
    assert untracked_provider(situation(agg, clock.now, GATEWAY, counter), rule_settings("untracked_provider")) == []


def test_configured_pairs_replace_the_default(clock):
    agg = Aggregator()
    stream(agg, clock.now - 300, clock.now, 10, provider="deepseek")
    other = SourceInfo("other", role="reference")
    agg.add(event(clock.now - 300, source="other", provider="openai"))
    cfg = rule_settings("untracked_provider", dimensions=["provider"], pairs=[["gateway", "ledger"]])
    assert untracked_provider(situation(agg, clock.now, GATEWAY, other), cfg) == []
    cfg = rule_settings("untracked_provider", dimensions=["provider"], pairs=[["gateway", "other"]])
    assert len(untracked_provider(situation(agg, clock.now, GATEWAY, other), cfg)) == 1


def test_few_requests_page_nobody(clock):
    agg = Aggregator()
    stream(agg, clock.now - 300, clock.now, 100, provider="deepseek")  # 3 requests
    agg.add(event(clock.now - 5, source="ledger", provider="openai"))
    agg.add(event(clock.now - 5, provider="mistral", token_source="missing"))
    sit = situation(agg, clock.now, GATEWAY, LEDGER)
    assert untracked_provider(sit, rule_settings("untracked_provider")) == []


def test_only_the_time_both_sources_were_delivering_is_compared(clock):
    """A ledger tokentop started reading a minute ago has not 'missed' the gateway's last ten minutes."""
    agg = Aggregator()
    stream(agg, clock.now - 600, clock.now, 5, platform="instagram")
    stream(agg, clock.now - 60, clock.now, 5, platform="instagram", source="ledger")
    assert untracked_provider(situation(agg, clock.now, GATEWAY, LEDGER), rule_settings("untracked_provider")) == []
