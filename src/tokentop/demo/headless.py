"""``tokentop demo --headless-seconds N``: the whole demo without a screen, for tests and CI smoke runs.

Follows the demo's sources into an aggregator for N real seconds, evaluates the alert rules every
``EVALUATE_EVERY`` seconds of simulated time (``tokentop.alerting.evaluate_once``; skipped, and said
so, when that module is not in this build), and returns a JSON-ready summary: what the gateway wrote
per scripted phase, every alert seen during the run (phases end, so alerts resolve before the end),
and a final snapshot.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from typing import Any

from tokentop.config import Config
from tokentop.core.aggregate import Aggregator
from tokentop.core.snapshot import take_snapshot
from tokentop.demo.gateway import Gateway
from tokentop.demo.scenario import SCHEDULE
from tokentop.headless import counted_sources
from tokentop.ingest import apply_batch
from tokentop.sources.base import Source

EVALUATE_EVERY = 5.0
"""Simulated seconds between alert evaluations (the live app's default interval)."""
MAX_EVALUATIONS_PER_SECOND = 10.0

Evaluate = Callable[[Aggregator, list[Source], Config, float], list[Any]]


def load_evaluator() -> tuple[Evaluate | None, str | None]:
    """``tokentop.alerting.evaluate_once``, or None and why not."""
    try:
        module = importlib.import_module("tokentop.alerting")
    except ModuleNotFoundError as exc:
        if exc.name and "tokentop.alerting".startswith(exc.name):
            return None, "alerts not evaluated: tokentop.alerting is not in this build"
        raise
    return module.evaluate_once, None


async def _follow(source: Source, agg: Aggregator) -> None:
    async for batch in source.batches(follow=True):
        apply_batch(agg, batch)


async def run_headless(gateway: Gateway, sources: list[Source], config: Config, seconds: float) -> dict[str, Any]:
    clock = gateway.clock
    agg = Aggregator(config.plans)
    evaluate, note = load_evaluator()
    seen: dict[str, dict[str, Any]] = {}
    final: list[Any] = []
    tasks = [asyncio.create_task(_follow(s, agg), name=f"follow {s.name}") for s in sources]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    pause = max(EVALUATE_EVERY / clock.speed, 1.0 / MAX_EVALUATIONS_PER_SECOND)
    try:
        while (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(pause, left))
            if evaluate is None:
                continue
            try:
                final = list(evaluate(agg, sources, config, clock()))
            except Exception as exc:  # noqa: BLE001 - another branch's rules: report, keep the demo running
                note, evaluate = f"alerts not evaluated: evaluate_once failed: {type(exc).__name__}: {exc}", None
                continue
            _remember(seen, final, clock.offset())
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for source in sources:
            await source.aclose()
    now = clock()
    snap = take_snapshot(agg, now, window="all", statuses=[s.status.to_dict() for s in sources],
                         counted=counted_sources(sources), alerts=final, recent=0)
    return {
        "demo": {**gateway.summary(), "schedule": schedule_table()},
        "alerts_note": note,
        "alerts_seen": seen,
        "snapshot": snap.to_json(),
        "temp_dir": str(gateway.dir),
    }


def _remember(seen: dict[str, dict[str, Any]], alerts: list[Any], offset: float) -> None:
    for alert in alerts:
        entry = seen.setdefault(alert.rule, {"first_offset": round(offset, 1), "subjects": []})
        if alert.subject not in entry["subjects"]:
            entry["subjects"].append(alert.subject)


def schedule_table() -> list[dict[str, Any]]:
    return [{"id": p.id, "start": p.start, "stop": p.stop, "repeats": p.repeats, "alerts": list(p.alerts)}
            for p in SCHEDULE]

