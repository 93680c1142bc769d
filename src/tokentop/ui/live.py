"""The live loop of the app: sources ingest in workers; a throttled tick folds the aggregator into one
Snapshot (with the alerts' verdict) and posts it in one ``SnapshotReady``.

Every source runs in its own long-lived asyncio worker on the app's loop, so the Aggregator has a
single writer and needs no lock against ingestion itself; the lock keeps a fold (in a thread) and
ingestion apart. Large batches are applied in chunks with a yield between them so input never blocks
the screen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Protocol

from tokentop.alerting import AlertMonitor
from tokentop.core.aggregate import Aggregator
from tokentop.core.overlap import RequestOverlap
from tokentop.core.sanitize import visible
from tokentop.core.snapshot import AlertView, Snapshot, take_snapshot
from tokentop.ingest import apply_batch, source_statuses
from tokentop.core.metrics_view import Family
from tokentop.prometheus import MetricsEndpoint
from tokentop.sources.base import Batch, Source
from tokentop.ui.messages import SnapshotReady
from tokentop.ui.rates import RateMeter

CHUNK: Final = 2000
"""Events applied between two yields to the event loop while ingesting a large batch."""
HEARTBEAT: Final = 1.0
"""Seconds between ticks when nothing arrives (clocks, ages, alerts that come from time passing)."""


class AlertTransition(Protocol):
    """What the alert engine reports on each evaluation (``tokentop.core.alerts`` ``Transition``)."""

    kind: str
    """``start``, ``escalate`` or ``end``."""
    alert: AlertView


class LiveLoop:
    """The ingestion and tick half of ``TokentopApp`` (a mixin: it uses the App's workers, messages
    and notifications, and the state the app sets up in ``__init__``)."""

    sources: list[Source]
    aggregator: Aggregator
    alert_monitor: AlertMonitor
    rates: RateMeter
    window: str
    counted: Callable[[str], bool] | None
    overlap: RequestOverlap | None
    ring_bell: bool
    metrics_endpoint: MetricsEndpoint | None
    """``--metrics``: tokentop's view for Prometheus, rebuilt with each fold."""
    clock: Callable[[], float]
    _aggregator_lock: asyncio.Lock
    _snapshotting: bool
    _tick_pending: bool
    _last_tick: float = float("-inf")
    """When the last tick started (monotonic)."""
    _tick_timer: Any = None
    """The tick scheduled by :meth:`request_tick`, if one is."""
    refresh_hz: float
    set_timer: Any
    run_worker: Any
    notify: Any
    post_message: Any
    bell: Any

    async def _follow(self, source: Source) -> None:
        """Apply a source's batches as they come, for as long as the app runs."""
        try:
            async for batch in source.batches(follow=True):
                await self._ingest(batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken source must show, not end the app
            source.status.fail(f"{type(exc).__name__}: {exc}")
            self.notify(f"source {visible(source.name)} stopped: {visible(str(exc), 200)}", severity="error",
                        timeout=10, markup=False)

    async def _ingest(self, batch: Batch) -> None:
        if len(batch.events) <= CHUNK:
            async with self._aggregator_lock:
                apply_batch(self.aggregator, batch, overlap=self.overlap)
            self.request_tick()
            return
        async with self._aggregator_lock:
            apply_batch(self.aggregator, Batch(retracted=batch.retracted, limits=batch.limits,
                                               readings=batch.readings), overlap=self.overlap)
        for start in range(0, len(batch.events), CHUNK):
            async with self._aggregator_lock:
                apply_batch(self.aggregator, Batch(events=batch.events[start:start + CHUNK]), overlap=self.overlap)
            await asyncio.sleep(0)
        self.request_tick()

    # -- the tick ---------------------------------------------------------------------------------

    def request_tick(self) -> None:
        """A tick as soon as the refresh rate allows: now, or 1/rate after the last one. New data asks
        for one (it reaches the screen without waiting for a fixed beat), and so does the heartbeat;
        the screen is never refreshed more often than the rate."""
        if self._tick_timer is not None:
            return  # one is already on its way
        wait = self._last_tick + 1.0 / self.refresh_hz - time.monotonic()
        if wait <= 0:
            self.tick()
        else:
            self._tick_timer = self.set_timer(wait, self._scheduled_tick)

    def heartbeat(self) -> None:
        """Every HEARTBEAT seconds: a tick, unless data brought one lately (a heartbeat right before
        new data would make that data wait a whole 1/rate)."""
        if time.monotonic() - self._last_tick >= 0.9 * HEARTBEAT:
            self.request_tick()

    def _scheduled_tick(self) -> None:
        self._tick_timer = None
        self.tick()

    def tick(self) -> None:
        """Request a snapshot; ticks that come due while one is being taken collapse into it."""
        self._last_tick = time.monotonic()
        if self._snapshotting:
            self._tick_pending = True
        else:
            self._snapshotting, self._tick_pending = True, False
            # (the coroutine function, not a coroutine: a tick as the app closes starts no worker, and a
            # coroutine made for it would never be awaited)
            self.run_worker(self._take_snapshot, name="snapshot", group="snapshot")

    async def _take_snapshot(self) -> None:
        """Fold the aggregator into a Snapshot in a thread, holding the aggregator lock.

        Folding a big aggregator can take longer than a frame (hundreds of ms for thousands of
        keys); in a thread, keys and repaints stay responsive meanwhile, and the lock keeps the
        single-writer rule: ingestion waits (its sources keep reading) until the fold is done.
        """
        try:
            now = self.clock()
            for source in self.sources:
                self.rates.sample(source.name, now, source.status.events)
            statuses = source_statuses(self.sources, self.overlap)
            async with self._aggregator_lock:
                snap, transitions, families = await asyncio.to_thread(self._fold, now, statuses)
            if families is not None and self.metrics_endpoint is not None:  # rendered without the lock
                await asyncio.to_thread(self.metrics_endpoint.exporter.publish, families, statuses)
            self.alert_monitor.dispatcher.deliver(transitions)  # log and command, from the event loop
            self._announce(transitions)
            self.post_message(SnapshotReady(snap))
        finally:
            self._snapshotting = False
        if self._tick_pending:  # asked for while folding (a new window, say): fold again now
            self.tick()

    def _fold(self, now: float, statuses: list[dict[str, Any]]
              ) -> tuple[Snapshot, Sequence[AlertTransition], list[Family] | None]:
        """Alerts, snapshot and (with ``--metrics``, when due) the exported families as of ``now``
        (runs in a thread while the aggregator lock is held)."""
        active, resolved, transitions = self.evaluate_alerts(now)
        families = None if self.metrics_endpoint is None else self.metrics_endpoint.exporter.build(
            self.aggregator, now, statuses, active, self.counted)
        snap = take_snapshot(self.aggregator, now, window=self.window, statuses=statuses,
                             counted=self.counted, alerts=active, resolved_alerts=resolved)
        return snap, transitions, families

    def start_metrics(self) -> None:
        if self.metrics_endpoint is not None:
            self.run_worker(self._serve_metrics, name="metrics", group="metrics")

    async def _serve_metrics(self) -> None:
        endpoint = self.metrics_endpoint
        assert endpoint is not None
        try:
            await endpoint.start()
        except OSError as exc:
            self.notify(f"cannot serve metrics on {visible(endpoint.server.host)}:{endpoint.server.requested_port}: "
                        f"{visible(str(exc.strerror or exc), 200)}", severity="error", timeout=15, markup=False)

    async def stop_metrics(self) -> None:
        if self.metrics_endpoint is not None:
            await self.metrics_endpoint.aclose()

    def evaluate_alerts(self, now: float) -> tuple[Sequence[AlertView], Sequence[AlertView], Sequence[AlertTransition]]:
        """The alert engine's verdict as of ``now``: active alerts, resolved ones, and what changed
        since the last call. Called on every tick; the engine evaluates when its interval is due and
        otherwise returns its current alerts with no transitions. Delivery happens on the caller's side."""
        return self.alert_monitor.poll(self.aggregator, self.sources, now, deliver=False)

    def mute_alert(self, rule: str, subject: str) -> None:
        """Mute one alert (its rule for this subject) until tokentop exits; config mutes are permanent."""
        self.alert_monitor.mute(rule, subject)
        self.notify(f"muted {visible(rule, 40)} for {visible(subject, 60)} until exit", timeout=5, markup=False)
        self.tick()

    def _announce(self, transitions: Iterable[AlertTransition]) -> None:
        """A notification for each alert that started or got worse; one bell for all of them."""
        news = [t.alert for t in transitions if t.kind in ("start", "escalate")]
        for alert in news:
            message = f"{visible(alert.subject, 60)}: {visible(alert.message, 200)}"
            severity = "error" if alert.severity == "critical" else "warning"
            self.notify(message, title=f"{visible(alert.severity, 12)} · {visible(alert.rule, 40)}",
                        severity=severity, timeout=8, markup=False)
        if news and self.ring_bell:
            self.bell()
