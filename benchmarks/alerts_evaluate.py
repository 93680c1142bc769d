"""How long one evaluation of every alert rule takes on a busy aggregator (the app runs one every
``[alerts] interval`` seconds, on the UI's event loop, so it must stay well under a frame budget).

    PYTHONPATH=src python benchmarks/alerts_evaluate.py [--users 200] [--rate 30]

Builds 24 h of traffic (``--rate`` requests/s for the last hour, a tenth of it before) over two
sources, users x 6 providers x 4 models x 5 platforms, plus a usage counter per user read every 15 s,
then times ``evaluate`` (median of 5) and each rule on its own.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from tokentop.core.aggregate import Aggregator
from tokentop.core.alerts import RULES, Situation, SourceInfo, evaluate, parse_alert_settings
from tokentop.core.event import CounterReading, UsageEvent
from tokentop.core.snapshot import take_snapshot

PROVIDERS = ("openai", "anthropic", "gemini", "deepseek", "groq", "openrouter")
PLATFORMS = ("playground", "instagram", "facebook", "telegram", "widget")


def build(users: int, rate: float, now: float) -> Aggregator:
    rng = random.Random(7)
    agg = Aggregator()
    counters = {f"user-{u}": 0 for u in range(users)}
    ts = now - 24 * 3600
    while ts < now:
        provider = rng.choice(PROVIDERS)
        user = f"user-{rng.randrange(users)}"
        for source in ("gateway", "ledger"):
            agg.add(UsageEvent(ts=ts, source=source, provider=provider, model=f"{provider}-m{rng.randrange(4)}",
                               user=user, platform=rng.choice(PLATFORMS), prompt_tokens=800,
                               completion_tokens=200, total_tokens=1000))
        counters[user] += 1000
        step = 1.0 / rate if ts > now - 3600 else 10.0 / rate
        if int(ts / 15) != int((ts + step) / 15) and ts > now - 900:
            for name, total in counters.items():
                agg.add_reading(CounterReading(source="usage-api", user=name, at=ts, total_tokens=total))
        ts += step
    return agg


def median_ms(fn, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rate", type=float, default=30.0)
    args = parser.parse_args()
    now = 1_790_000_000.0
    agg = build(args.users, args.rate, now)
    sources = (SourceInfo("gateway"), SourceInfo("ledger", kind="sqlite", role="reference"),
               SourceInfo("usage-api", kind="http", role="reference"))
    fresh = lambda: Situation(agg, now, sources)  # noqa: E731 - a new one per run: no shared indexes
    settings = parse_alert_settings({})
    minute_keys = sum(len(b) for b in agg.minutes.values())
    hour_keys = sum(len(b) for b in agg.hours.values())
    print(f"events {agg.events}, cells {len(agg.total)}, minute cells {minute_keys}, hour cells {hour_keys}, "
          f"counters {len(agg.readings)}")
    print(f"evaluate (all rules): median {median_ms(lambda: evaluate(fresh(), settings)):.1f} ms")
    snap = median_ms(lambda: take_snapshot(agg, now, window="1h", counted=lambda n: n == "gateway"))
    print(f"for scale, take_snapshot(window='1h') of the same state: median {snap:.1f} ms")
    for rule_id, rule in RULES.items():
        cfg = settings.rule(rule_id)
        print(f"  {rule_id:20} {median_ms(lambda r=rule, c=cfg: r(fresh(), c)):7.2f} ms")


if __name__ == "__main__":
    main()
