"""The live loop of the app: sources ingest in workers; a throttled tick folds the aggregator into one
Snapshot (with the alerts' verdict) and posts it in one ``SnapshotReady``.

Ticks are driven by data, leading edge first: a batch that arrives once the last tick is old enough
is folded and shown at once; batches that arrive sooner wait for one trailing tick. How old is old
enough depends on the load. Busy input (more than ``LIGHT_EVENTS`` events a tick) is shown at most
``refresh_hz`` times a second: the refresh rate is the cap, not the delay. A trickle is cheap to
show (a fold of a few events, a row or two to paint), so it is shown as it lands, up to
``1 / LIGHT_GAP`` times a second, unless folding costs more than ``1 / COST_FACTOR`` of that gap
(a huge window). Without data a heartbeat ticks once a second (the clock, the "for 2m39s" of alerts,
stale sources).

Every source runs in its own long-lived asyncio worker on the app's loop, so the Aggregator has a
single writer and needs no lock against ingestion itself; the lock keeps a fold (in a thread) and
ingestion apart. Large batches are applied in chunks with a yield between them so input never blocks
the screen.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol

from textual.timer import Timer

from tokentop.alerting import AlertMonitor
from tokentop.core import aggstate
from tokentop.core.aggregate import Aggregator
from tokentop.core.alerts.model import SEVERITY_RANK
from tokentop.core.event import UsageEvent
from tokentop.core.overlap import RequestOverlap
from tokentop.core.sanitize import visible
from tokentop.core.snapshot import AlertView, Snapshot, take_snapshot
from tokentop.backfill import Backfilled, adopt, backfill, plan
from tokentop.config import SourceConfig
from tokentop.core.metrics_view import Family
from tokentop.ingest import apply_batch, history_progress, source_statuses
from tokentop.resume import Checkpointing, resumable, saved_sources
from tokentop.sources.registry import open_source
from tokentop.sources.base import Batch, Source
from tokentop.ui.messages import SnapshotReady
from tokentop.ui.rates import RateMeter

if TYPE_CHECKING:
    from tokentop.prometheus import MetricsEndpoint

CHUNK: Final = 2000
"""Events applied between two yields to the event loop while ingesting a large batch."""
HEARTBEAT: Final = 1.0
"""Seconds between ticks when no data arrives."""
LIGHT_EVENTS: Final = 20
"""At most this many events since the last tick is a trickle, painted as it lands."""
LIGHT_GAP: Final = 0.1
"""Seconds between ticks for a trickle, at least (a line every 0.1 s shows within ~0.1 s)."""
INLINE_FOLD: Final = 0.005
"""A fold that took less than this runs on the event loop; a longer one in a thread (see below)."""
COST_FACTOR: Final = 4.0
"""A trickle's ticks are also at least this many folds apart (folding a big window is not cheap)."""


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
    _unapplied: deque[Batch]
    checkpointing: Checkpointing | None
    backfilling: dict[str, tuple[int, int]]
    """Bytes (done, total) of the history worker processes are reading, by source."""
    config: Any
    args: Any
    start_notices: list[str]
    is_running: bool
    refresh_hz: float
    _aggregator_lock: asyncio.Lock
    run_worker: Any
    notify: Any
    post_message: Any
    bell: Any
    set_timer: Any
    set_interval: Any

    def init_ticks(self) -> None:
        self._snapshotting = False
        self._tick_pending = False
        """A tick was asked for while a fold ran: fold again as soon as it ends."""
        self._last_tick = float("-inf")
        """When (monotonic) the last fold started."""
        self._trailing: Timer | None = None
        """The tick that shows what arrived too soon after the last one."""
        self._arrived = 0
        """Events applied since the last tick started."""
        self._last_tick_events = 0
        self._fold_cost = 0.0
        """Seconds the last fold took (on the loop or in a thread)."""

    def start_ticks(self) -> None:
        self.set_interval(HEARTBEAT, self._heartbeat)
        self.tick()

    def _heartbeat(self) -> None:
        if time.monotonic() - self._last_tick >= HEARTBEAT * 0.9:  # (data ticks keep the clock going)
            self.tick()

    def data_arrived(self, events: int = 0) -> None:
        """Show new data now if the last tick is old enough (leading edge), else once it is (one
        trailing tick for everything that arrives meanwhile)."""
        self._arrived += events
        wait = self._last_tick + self.tick_gap() - time.monotonic()
        if wait <= 0:
            self.tick()
        elif self._trailing is None:
            self._trailing = self.set_timer(wait, self._trailing_tick)

    def tick_gap(self) -> float:
        """Seconds from one data tick to the next: ``1 / refresh_hz`` for busy input, less for a trickle."""
        cap = 1.0 / self.refresh_hz
        if max(self._arrived, self._last_tick_events) > LIGHT_EVENTS:
            return cap
        return min(cap, max(LIGHT_GAP, COST_FACTOR * self._fold_cost))

    def _trailing_tick(self) -> None:
        self._trailing = None
        self.tick()

    async def _follow(self, source: Source, spec: SourceConfig | None = None) -> None:
        """Read a source's history (in worker processes when it is large: ``tokentop.backfill``),
        then apply its batches as they come, for as long as the app runs."""
        try:
            if spec is not None:
                await self._prefill(source, spec)
            async for batch in source.batches(follow=True):
                await self._ingest(batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken source must show, not end the app
            source.status.fail(f"{type(exc).__name__}: {exc}")
            self.notify(f"source {visible(source.name)} stopped: {visible(str(exc), 200)}", severity="error",
                        timeout=10, markup=False)

    async def _ingest(self, batch: Batch) -> None:
        """Apply a batch, a large one in chunks with a yield between them, then show it (:meth:`data_arrived`).
        A batch a source yielded is queued at once, before anything awaits: a checkpoint taken meanwhile
        applies what is left first, so the counts always match where the sources say they are."""
        self._unapplied.append(batch)
        while self._unapplied:
            async with self._aggregator_lock:
                self._apply_chunk()
            await asyncio.sleep(0)
        if batch:
            self.data_arrived(len(batch.events) + len(batch.retracted))

    def _apply_chunk(self) -> None:
        """Apply the next CHUNK events of the oldest unapplied batch; with its last events, the rest of
        it (retractions after the events: one may take back an event of the same batch)."""
        batch = self._unapplied[0]
        if len(batch.events) > CHUNK:
            apply_batch(self.aggregator, Batch(events=batch.events[:CHUNK]), overlap=self.overlap)
            batch.events = batch.events[CHUNK:]
        else:
            self._unapplied.popleft()
            apply_batch(self.aggregator, batch, overlap=self.overlap)

    def _apply_all(self) -> None:
        while self._unapplied:
            self._apply_chunk()

    async def _prefill(self, source: Source, spec: SourceConfig) -> None:
        """A fresh source's history on every core (``tokentop.backfill``): what the workers count joins
        the aggregator as they go (figures fill in, marked ≥); no checkpoint is written until the
        source is restored to where they stopped, in the same step as the last take-backs. Meanwhile
        what is written now is shown in the recent requests at once (:meth:`_preview`): counted
        once the source reads it after the workers."""
        workers = getattr(self.args, "workers", None)
        shares = None if self.overlap is not None else plan(source, spec, workers)
        if not shares:
            return  # (requests matched across sources go through one overlap, in this process)
        progress = self.backfilling
        progress[source.name] = (0, sum(share.size for share in shares))
        shown: list[UsageEvent] = []
        preview = asyncio.create_task(self._preview(spec, shown))

        async def counted(delta: Aggregator, retracted: list[UsageEvent]) -> None:
            async with self._aggregator_lock:
                self.aggregator.merge(delta)
                for event in retracted:
                    self.aggregator.remove(event)
            self.data_arrived(delta.events)

        try:
            result = await backfill(source, spec, self.config, counted, workers,
                                    lambda done, total: progress.__setitem__(source.name, (done, total)), shares)
            notice = result if isinstance(result, str) else None
            if isinstance(result, Backfilled):
                async with self._aggregator_lock:
                    notice = adopt(source, result, self.aggregator)
        finally:
            preview.cancel()
            await asyncio.gather(preview, return_exceptions=True)
            async with self._aggregator_lock:  # the source counts (and shows) them when it reads them
                self.aggregator.unshow(shown)
            progress.pop(source.name, None)
        if notice:
            self.notify(visible(notice, 300), severity="warning", timeout=10, markup=False)

    async def _preview(self, spec: SourceConfig, shown: list[UsageEvent]) -> None:
        """Follow the source from its end while workers read its history: what is written now goes to
        the recent requests (shown, not counted), so the screen is live at once."""
        live = open_source(SourceConfig(spec.name, spec.kind, {**spec.options, "start": "end"}), self.config,
                           clock=self.clock)
        try:
            async for batch in live.batches(follow=True):
                if batch.events:
                    async with self._aggregator_lock:
                        self.aggregator.show(batch.events)
                    shown += batch.events
                    self.data_arrived(len(batch.events))
                    del shown[:-2 * (self.aggregator.recent.maxlen or 1000)]
        finally:
            await live.aclose()

    # -- checkpoints ------------------------------------------------------------------------------

    def _start_checkpoints(self) -> None:
        for notice in self.start_notices:
            self.notify(visible(notice, 300), severity="warning", timeout=10, markup=False)
        if self.checkpointing is not None:
            self.set_interval(self.checkpointing.every, self._periodic_checkpoint)

    async def _periodic_checkpoint(self) -> None:
        self.run_worker(self.save_checkpoint, name="checkpoint", group="checkpoint", exclusive=True)

    async def save_checkpoint(self) -> None:
        """Write a checkpoint of where every source is and what was counted (the sources' states and
        the aggregate taken at one moment, under the aggregator lock; the encoding in a thread)."""
        checkpointing = self.checkpointing
        if checkpointing is None or not resumable(self.sources) or self.backfilling:
            return  # (while workers read a history, the counts hold some of it but no source says so)
        async with self._aggregator_lock:
            self._apply_all()
            saved = saved_sources(self.sources)
            alerts = self.alert_monitor.engine.to_state()
            overlap = None if self.overlap is None else self.overlap.to_state()
            counts = await asyncio.to_thread(aggstate.encode, self.aggregator.to_state())
        store = checkpointing.store
        checkpoint = store.new(saved, counts, checkpointing.since, alerts, overlap)
        problem = await asyncio.to_thread(store.save, checkpointing.coverage, checkpoint)
        if problem and self.is_running:
            self.notify(visible(problem, 300), severity="warning", timeout=10, markup=False)

    # -- the tick ---------------------------------------------------------------------------------

    def tick(self) -> None:
        """Request a snapshot; ticks that come due while one is being taken collapse into it."""
        if self._snapshotting:
            self._tick_pending = True
        else:
            self._snapshotting, self._tick_pending = True, False
            self._last_tick = time.monotonic()
            self._last_tick_events, self._arrived = self._arrived, 0
            # (the coroutine function, not a coroutine: a tick as the app closes starts no worker, and a
            # coroutine made for it would never be awaited)
            self.run_worker(self._take_snapshot, name="snapshot", group="snapshot")

    async def _take_snapshot(self) -> None:
        """Fold the aggregator into a Snapshot, holding the aggregator lock.

        Folding a big aggregator can take longer than a frame (hundreds of ms for thousands of
        keys); in a thread, keys and repaints stay responsive meanwhile, and the lock keeps the
        single-writer rule: ingestion waits (its sources keep reading) until the fold is done. A
        fold that took under ``INLINE_FOLD`` last time runs on the loop: handing it to a thread
        and back costs a busy machine more than the fold itself, on every line of a quiet log.
        """
        try:
            now = self.clock()
            for source in self.sources:
                self.rates.sample(source.name, now, source.status.events)
            statuses = source_statuses(self.sources, self.overlap)
            async with self._aggregator_lock:
                started = time.monotonic()
                if self._fold_cost < INLINE_FOLD:  # cheap: a thread hand-off would cost more than it saves
                    snap, transitions, families = self._fold(now, statuses)
                else:
                    snap, transitions, families = await asyncio.to_thread(self._fold, now, statuses)
                self._fold_cost = time.monotonic() - started
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
        (runs while the aggregator lock is held, in a thread unless folds are cheap)."""
        active, resolved, transitions = self.evaluate_alerts(now)
        families = None if self.metrics_endpoint is None else self.metrics_endpoint.exporter.build(
            self.aggregator, now, statuses, active, self.counted)
        snap = take_snapshot(self.aggregator, now, window=self.window, statuses=statuses,
                             counted=self.counted, alerts=active, resolved_alerts=resolved,
                             history=history_progress(self.sources, self.backfilling))
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
        """One notice for the alerts that started or got worse in this evaluation (the most severe
        named, the others counted); one bell for all of them."""
        news = sorted((t.alert for t in transitions if t.kind in ("start", "escalate")),
                      key=lambda a: -SEVERITY_RANK.get(a.severity, 0))
        if not news:
            return
        first = news[0]
        title = f"{visible(first.severity, 12)} · {visible(first.rule, 40)}"
        if len(news) > 1:
            title = f"{len(news)} new alerts (a: history); {title}"
        self.notify(f"{visible(first.subject, 60)}: {visible(first.message, 300)}", title=title,
                    severity="error" if first.severity == "critical" else "warning", timeout=8, markup=False)
        if self.ring_bell:
            self.bell()
