"""The demo's traffic: deterministic, realistic, and each scripted fault only in its time slot."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import pytest

from tokentop.demo.catalogue import MODELS, PLAN_LIMITS, USERS
from tokentop.demo.scenario import CYCLE, MONTH_END_LEAD, PHASES, SCHEDULE, is_active, simulated_start
from tokentop.demo.traffic import QUOTA_EXCEEDED, RACER, TrafficGenerator

START = simulated_start(1_790_000_000.0)
END = START + CYCLE + 200  # one full cycle and the start of the next


@pytest.fixture(scope="module")
def requests():
    return TrafficGenerator(START, seed=7, history=600).until(END)


def test_same_seed_same_requests_however_the_clock_is_sliced():
    whole = TrafficGenerator(START, seed=7, history=60).until(START + 120)
    sliced_gen = TrafficGenerator(START, seed=7, history=60)
    sliced = []
    t = START - 60
    while t < START + 120:
        t += 0.37
        sliced += sliced_gen.until(min(t, START + 120))
    assert [r.request_id for r in sliced] == [r.request_id for r in whole]
    assert sliced == whole
    other = TrafficGenerator(START, seed=8, history=60).until(START + 120)
    assert [r.request_id for r in other] != [r.request_id for r in whole]


def test_requests_come_in_time_order_and_never_from_the_future(requests):
    times = [r.ts for r in requests]
    assert times == sorted(times)
    assert times[-1] <= END
    assert times[0] >= START - 600


def test_every_user_plan_provider_model_and_platform_appears(requests):
    assert {r.user for r in requests} == {u.id for u in USERS}
    assert {r.plan for r in requests} == set(PLAN_LIMITS)
    assert {r.model for r in requests} == set(MODELS)
    assert {r.provider for r in requests} == {"openai", "anthropic", "gemini", "deepseek", "groq", "openrouter"}
    assert {r.platform for r in requests} >= {"web", "api", "widget", "telegram", "instagram", "facebook"}
    assert {r.source for r in requests} >= {"webhook", "widget", "widget_init", "api", "playground"}


def test_cache_hits_are_legitimately_zero_tokens(requests):
    hits = [r for r in requests if r.cache_hit]
    assert len(hits) > 20
    assert all(r.total_tokens == 0 and r.cost == 0 and r.token_source == "actual" and r.status == "success"
               for r in hits)


def test_streaming_reasoning_and_provider_caches_are_present(requests):
    answered = [r for r in requests if r.total_tokens and r.token_source == "actual" and not r.faults]
    assert sum(r.stream for r in answered) > len(answered) * 0.2
    for model in ("o3-mini", "gemini-2.5-flash"):
        reasoning = [r for r in answered if r.model == model]
        assert reasoning and all(0 < r.reasoning_tokens < r.completion_tokens for r in reasoning)
    for provider in ("anthropic", "deepseek", "openai"):
        assert any(0 < r.cached_tokens < r.prompt_tokens for r in answered if r.provider == provider)
    assert any(r.cache_write_tokens for r in answered if r.provider == "anthropic")
    assert all(r.total_tokens == r.prompt_tokens + r.completion_tokens for r in answered)
    assert all(r.cost > 0 and r.latency_ms > 0 for r in answered)
    assert not any(r.stream for r in requests if r.source == "webhook")


def test_some_requests_fail(requests):
    errors = Counter(r.error for r in requests if r.status == "error")
    assert sum(errors.values()) > 10


@pytest.mark.parametrize("phase", [p.id for p in SCHEDULE])
def test_each_fault_happens_only_in_its_time_slot(requests, phase):
    marked = [r for r in requests if phase in r.faults]
    assert marked, phase
    assert all(is_active(PHASES[phase], r.offset) for r in marked)
    assert all(r.offset >= PHASES[phase].start or PHASES[phase].in_history for r in marked)


def test_fault_effects(requests):
    mismatched = [r for r in requests if "totals_mismatch" in r.faults and r.total_tokens]
    assert mismatched and all(r.total_tokens - r.prompt_tokens - r.completion_tokens == r.reasoning_tokens >= 2
                              for r in mismatched)
    estimated = [r for r in requests if "estimated_counts" in r.faults and r.total_tokens]
    assert estimated and all(r.token_source == "estimated" and r.stream and r.prompt_tokens > 500
                             for r in estimated)
    assert all(r.token_source == "actual" for r in requests if r.provider == "openrouter" and not r.faults)


def test_the_racer_burns_towards_her_limit_then_the_gateway_refuses_her():
    gen = TrafficGenerator(START, seed=7, history=60)
    race = PHASES["quota_race"]
    during = [r for r in gen.until(START + race.stop) if r.user == RACER and r.offset >= MONTH_END_LEAD]
    used = sum(r.total_tokens for r in during)
    assert 0.75 * PLAN_LIMITS["free"] <= used <= PLAN_LIMITS["free"]
    assert sum(r.total_tokens for r in during if "quota_race" in r.faults) / (race.stop - race.start) > 1500
    # Keep her racing past her limit: the gateway enforces it.
    later = TrafficGenerator(START, seed=7, history=60)
    month = datetime.fromtimestamp(START, timezone.utc)
    later._used[(RACER, month.year, month.month)] = PLAN_LIMITS["free"]  # noqa: SLF001 - month used up
    refused = [r for r in later.until(START + 120) if r.user == RACER and r.offset < MONTH_END_LEAD]
    assert refused and all(r.error == QUOTA_EXCEEDED and r.total_tokens == 0 for r in refused)
