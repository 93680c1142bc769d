"""The five seeds' faults, replayed second by second with default settings: every rule stays quiet
while the system is healthy, and the fault shows within a minute of appearing in the data.

Each scenario runs 30 healthy minutes, then the fault; the monitor evaluates every 5 s as the app does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from alerts.helpers import StubSource, event, reading

from tokentop.alerting import AlertMonitor
from tokentop.config import Config
from tokentop.core.aggregate import Aggregator
from tokentop.core.alerts import Transition
from tokentop.core.event import CounterReading, UsageEvent
from tokentop.core.periods import Period

HEALTHY = 1800


@dataclass
class Step:
    events: list[UsageEvent] = field(default_factory=list)
    readings: list[CounterReading] = field(default_factory=list)


@dataclass
class Replay:
    sources: list[StubSource]
    start: float
    agg: Aggregator = field(default_factory=Aggregator)
    monitor: AlertMonitor = field(default_factory=lambda: AlertMonitor.from_config(Config()))
    started: list[tuple[float, Transition]] = field(default_factory=list)

    def run(self, seconds: int, second: Callable[[float, Step], None], counter: str | None = None) -> None:
        totals: dict[str, int] = {}
        for i in range(seconds):
            now = self.start + i
            step = Step()
            second(now, step)
            self.agg.add_many(step.events)
            for r in step.readings:
                self.agg.add_reading(r)
                if counter:  # the endpoint source also yields the counter's growth as delta events
                    grown = (r.total_tokens or 0) - totals.get(r.user, r.total_tokens or 0)
                    totals[r.user] = r.total_tokens or 0
                    if grown > 0:
                        self.agg.add(UsageEvent(ts=now, source=counter, user=r.user, total_tokens=grown,
                                                format="endpoint"))
            if i % 5 == 4:
                self.started += [(now, t) for t in self.monitor.evaluate(self.agg, self.sources, now)
                                 if t.kind == "start"]

    def alerts_before(self, t: float) -> list[str]:
        return [f"{x.alert.rule} {x.alert.subject}: {x.alert.message}" for at, x in self.started if at < t]

    def first(self, rule: str, subject: str) -> float:
        return next(at for at, t in self.started if (t.alert.rule, t.alert.subject) == (rule, subject))


def gateway_traffic(now: float, step: Step, source: str = "gateway", **fields) -> None:
    """A request every 2 s, rotating over three providers (and users)."""
    if int(now) % 2:
        return
    n = int(now) // 2
    provider = ("groq", "gemini", "deepseek")[n % 3]
    fields.setdefault("user", ("alice", "bob")[n % 2])
    step.events.append(event(now, source=source, provider=provider, model=f"{provider}-model", **fields))


def assert_visible_within_a_minute(replay: Replay, fault_at: float, rule: str, subject: str) -> None:
    assert replay.alerts_before(fault_at) == []
    assert replay.first(rule, subject) - fault_at <= 60


def test_seed_000_deepseek_calls_never_incremented_the_counter(clock):
    fault_at = clock.now + HEALTHY
    counter = {"alice": 10_000, "bob": 20_000}
    replay = Replay([StubSource("gateway"), StubSource("usage-api", kind="http", role="reference")], clock.now)

    def second(now: float, step: Step) -> None:
        gateway_traffic(now, step)
        for e in step.events:
            if now < fault_at or e.provider != "deepseek":
                counter[e.user] += e.total_tokens
        if int(now) % 15 == 0:
            step.readings += [reading(now, user=u, total_tokens=t, limit=100_000) for u, t in counter.items()]

    replay.run(HEALTHY + 90, second, counter="usage-api")
    assert_visible_within_a_minute(replay, fault_at, "counter_drift", "source=usage-api user=alice")


def test_seed_000_provider_functions_returned_no_tokens(clock):
    fault_at = clock.now + HEALTHY
    replay = Replay([StubSource("gateway")], clock.now)

    def second(now: float, step: Step) -> None:
        gateway_traffic(now, step)
        for i, e in enumerate(step.events):
            if now >= fault_at and e.provider == "deepseek":
                step.events[i] = event(now, provider="deepseek", user=e.user, prompt_tokens=0, completion_tokens=0)
        if int(now) % 7 == 0:  # cached answers: 0 tokens, and that is fine
            step.events.append(event(now, provider="groq", cache_hit=True, prompt_tokens=0, completion_tokens=0))

    replay.run(HEALTHY + 90, second)
    assert_visible_within_a_minute(replay, fault_at, "untracked_provider", "provider=deepseek")


def test_seed_001_fallback_calls_tracked_without_usage(clock):
    fault_at = clock.now + HEALTHY
    replay = Replay([StubSource("ledger", kind="sqlite")], clock.now)

    def second(now: float, step: Step) -> None:
        if int(now) % 3 == 0:
            step.events.append(event(now, source="ledger", provider="openrouter", model="anthropic/claude-sonnet-4"))
        if int(now) % 4 == 0:  # the fallback model's calls
            missing = now >= fault_at
            step.events.append(event(now, source="ledger", provider="openrouter", model="meta-llama/llama-3.3-70b",
                                     token_source="missing" if missing else "actual",
                                     prompt_tokens=0 if missing else 120, completion_tokens=0 if missing else 80))

    replay.run(HEALTHY + 90, second)
    assert_visible_within_a_minute(replay, fault_at, "untracked_provider", "provider=openrouter")


def test_seed_002_monthly_counter_never_reset(clock):
    month_start = Period.parse("month").bounds(clock.now)[1]  # the next month starts ...
    clock.now = month_start - HEALTHY  # ... after 30 healthy minutes
    replay = Replay([StubSource("gateway"), StubSource("usage-api", kind="http", role="reference")], clock.now)
    state = {"period": 30_000, "total": 90_000}

    def second(now: float, step: Step) -> None:
        if int(now) % 20 == 0:
            step.events.append(event(now, user="alice", prompt_tokens=1000, completion_tokens=300))
            state["period"] += 1300
            state["total"] += 1300
        if int(now) % 10 == 5:
            step.readings.append(reading(now, total_tokens=state["total"], period_tokens=state["period"]))

    replay.run(HEALTHY + 90, second, counter="usage-api")
    assert_visible_within_a_minute(replay, month_start, "counter_drift", "source=usage-api user=alice")


def test_seed_002_legitimate_monthly_reset_stays_quiet(clock):
    month_start = Period.parse("month").bounds(clock.now)[1]
    clock.now = month_start - HEALTHY
    replay = Replay([StubSource("gateway"), StubSource("usage-api", kind="http", role="reference")], clock.now)
    state = {"period": 30_000, "total": 90_000}

    def second(now: float, step: Step) -> None:
        if now == month_start:
            state["period"] = 0
        if int(now) % 20 == 0:
            step.events.append(event(now, user="alice", prompt_tokens=1000, completion_tokens=300))
            state["period"] += 1300
            state["total"] += 1300
        if int(now) % 10 == 5:
            step.readings.append(reading(now, total_tokens=state["total"], period_tokens=state["period"]))

    replay.run(HEALTHY + 300, second, counter="usage-api")
    assert replay.alerts_before(month_start + 300) == []


def test_seed_002_estimated_instead_of_reported_counts(clock):
    fault_at = clock.now + HEALTHY
    replay = Replay([StubSource("gateway")], clock.now)
    replay.run(HEALTHY + 90, lambda now, step: gateway_traffic(
        now, step, token_source="estimated" if now >= fault_at else "actual"))
    # Every provider turns estimated at once: each is reported (3 providers, one alert each).
    assert_visible_within_a_minute(replay, fault_at, "accuracy_drop", "provider=groq")


def test_seed_003_totals_that_do_not_add_up(clock):
    fault_at = clock.now + HEALTHY
    replay = Replay([StubSource("gateway")], clock.now)

    def second(now: float, step: Step) -> None:
        gateway_traffic(now, step)
        if int(now) % 8 == 0:
            bad = now >= fault_at
            step.events.append(event(now, provider="openai", model="text-embedding-3-small", prompt_tokens=800,
                                     completion_tokens=0, total_tokens=1200 if bad else 800, mismatched=bad))

    replay.run(HEALTHY + 90, second)
    assert_visible_within_a_minute(replay, fault_at, "totals_mismatch", "source=gateway provider=openai")


def test_seed_003_ledger_stopped_while_requests_continue(clock):
    fault_at = clock.now + HEALTHY
    replay = Replay([StubSource("gateway"), StubSource("ledger", kind="sqlite", role="reference")], clock.now)

    def second(now: float, step: Step) -> None:
        gateway_traffic(now, step)
        if now < fault_at:
            gateway_traffic(now, step, source="ledger")

    replay.run(HEALTHY + 90, second)
    assert_visible_within_a_minute(replay, fault_at, "logging_stopped", "source=ledger")


def test_seed_004_webhook_workers_never_logged(clock):
    replay = Replay([StubSource("gateway"), StubSource("ledger", kind="sqlite", role="reference")], clock.now)

    def second(now: float, step: Step) -> None:
        platform = ("playground", "instagram", "facebook")[int(now) % 3]
        step.events.append(event(now, platform=platform, user=f"company-{int(now) % 5}"))
        if platform == "playground":
            step.events.append(event(now, source="ledger", platform=platform, user=f"company-{int(now) % 5}"))

    replay.run(90, second)
    assert replay.first("untracked_provider", "platform=instagram source=ledger") - clock.now <= 60
    assert replay.first("untracked_provider", "platform=facebook source=ledger") - clock.now <= 60


def test_seed_004_one_platform_stops_logging(clock):
    fault_at = clock.now + HEALTHY
    replay = Replay([StubSource("ledger", kind="sqlite")], clock.now)

    def second(now: float, step: Step) -> None:
        platform = ("playground", "instagram", "telegram")[int(now) % 3]
        if platform != "instagram" or now < fault_at:
            step.events.append(event(now, source="ledger", platform=platform))

    replay.run(HEALTHY + 90, second)
    assert_visible_within_a_minute(replay, fault_at, "logging_stopped", "source=ledger platform=instagram")
