"""``tokentop demo --headless-seconds N``: the whole demo without a screen, for tests and CI smoke runs.

Follows the demo's sources into an aggregator for N real seconds, evaluates the alert rules every
``EVALUATE_EVERY`` seconds of simulated time with the live app's rules and lifecycle, and returns a
JSON-ready summary: what the gateway wrote per scripted phase, every alert seen during the run (when
it started and, phases being finite, when it resolved), and a final snapshot.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tokentop.alerting import AlertMonitor, alert_settings
from tokentop.config import Config
from tokentop.core.aggregate import Aggregator
from tokentop.core.alerts.engine import Transition
from tokentop.core.snapshot import take_snapshot
from tokentop.demo.gateway import Gateway
from tokentop.demo.scenario import SCHEDULE
from tokentop.ingest import apply_batch, counted_sources, following
from tokentop.sources.base import Source

EVALUATE_EVERY = 5.0
"""Simulated seconds between alert evaluations (the live app's default interval)."""
MAX_EVALUATIONS_PER_SECOND = 10.0
CAUGHT_UP = 5.0
"""Simulated seconds behind the newest event at which ingestion counts as caught up."""


async def run_headless(gateway: Gateway, sources: list[Source], config: Config, seconds: float) -> dict[str, Any]:
    clock = gateway.clock
    agg = Aggregator(config.plans, clock=clock, max_keys=config.limits.max_keys)
    monitor = AlertMonitor(alert_settings(config))  # the live app's rules and lifecycle, no delivery
    seen: dict[str, dict[str, Any]] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    pause = max(EVALUATE_EVERY / clock.speed, 1.0 / MAX_EVALUATIONS_PER_SECOND)
    ingest = {"caught_up_at": None, "lag_max": 0.0, "first_reading_at": None}
    """When ingestion first caught up with the gateway (simulated s), and its worst lag after that:
    alerts can only be as timely as the data that was read (at high speed, a busy second is a minute)."""
    async with following(sources, lambda _source, batch: apply_batch(agg, batch)):
        while (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(pause, left))
            now = clock()
            _note_lag(ingest, now - agg.latest_ts, clock.offset())
            if ingest["first_reading_at"] is None and agg.readings:
                ingest["first_reading_at"] = round(clock.offset(), 1)
            _remember(seen, monitor.evaluate(agg, sources, now, deliver=False), clock.offset())
    now = clock()
    snap = take_snapshot(agg, now, window="all", statuses=[s.status.to_dict() for s in sources],
                         counted=counted_sources(sources), alerts=monitor.active, recent=0)
    return {
        "demo": {**gateway.summary(), "schedule": schedule_table()},
        "alerts_seen": seen,
        "ingest": ingest,
        "snapshot": snap.to_json(),
        "temp_dir": str(gateway.dir),
    }


def _note_lag(ingest: dict[str, Any], lag: float, offset: float) -> None:
    if ingest["caught_up_at"] is None:
        if lag <= CAUGHT_UP:
            ingest["caught_up_at"] = round(offset, 1)
    else:
        ingest["lag_max"] = round(max(ingest["lag_max"], lag), 1)


def _remember(seen: dict[str, dict[str, Any]], transitions: list[Transition], offset: float) -> None:
    """Per rule: when it first started (simulated seconds into the demo), its subjects, and when
    the last of them ended (None while one is still active)."""
    for t in transitions:
        entry = seen.setdefault(t.alert.rule, {"first_offset": round(offset, 1), "subjects": [], "active": []})
        if t.kind in ("start", "escalate") and t.alert.subject not in entry["active"]:
            entry["active"].append(t.alert.subject)
        if t.alert.subject not in entry["subjects"]:
            entry["subjects"].append(t.alert.subject)
        if t.kind == "end" and t.alert.subject in entry["active"]:
            entry["active"].remove(t.alert.subject)
        entry["resolved_offset"] = None if entry["active"] else round(offset, 1)


def schedule_table() -> list[dict[str, Any]]:
    return [{"id": p.id, "start": p.start, "stop": p.stop, "repeats": p.repeats, "alerts": list(p.alerts)}
            for p in SCHEDULE]

