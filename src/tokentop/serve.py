"""``tokentop serve SOURCE...``: follow sources with no screen and serve ``/metrics`` and ``/healthz``.

For systemd next to each gateway: the same sources, aggregation and alert rules as the live app,
alert delivery through ``--alert-log`` / ``--alert-command`` as in the app, and tokentop's view as a
Prometheus target (see docs/fleet.md). Every ``--interval`` seconds the alert rules are evaluated and
the exported view is rebuilt, in a thread; batches are applied as they arrive, on the event loop, and
held while a fold runs, so the aggregator has one user at a time. SIGINT and SIGTERM end it cleanly with status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time

from tokentop import __version__
from tokentop.alerting import AlertMonitor
from tokentop.config import Config, ConfigError, load_config
from tokentop.core.aggregate import Aggregator
from tokentop.core.metrics_view import MetricsView
from tokentop.core.sanitize import visible
from tokentop.ingest import apply_batch, counted_sources, following, overlap_for, source_statuses
from tokentop.prometheus import Exporter, MetricsEndpoint, parse_address, view_settings
from tokentop.sources.base import Batch, Source
from tokentop.sources.registry import command_line_sources

DEFAULT_LISTEN = "127.0.0.1:9464"


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:
        host, port = parse_address(args.metrics or DEFAULT_LISTEN)
    except ValueError as exc:
        raise ConfigError(None, "--metrics", str(exc)) from None
    sources = command_line_sources(args.sources, args.reference, config)
    return asyncio.run(serve(sources, config, host, port, args))


async def serve(sources: list[Source], config: Config, host: str, port: int, args: argparse.Namespace) -> int:
    agg = Aggregator(config.plans, clock=time.time, max_keys=config.limits.max_keys)
    monitor = AlertMonitor.from_config(config, log_path=args.alert_log, command=args.alert_command)
    exporter = Exporter(MetricsView(view_settings(config), __version__), every=0.0)
    endpoint = MetricsEndpoint(exporter, host, port)
    counted = counted_sources(sources)
    overlap = overlap_for(sources)
    try:
        await endpoint.start()
    except OSError as exc:
        print(f"tokentop: cannot serve metrics on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"tokentop: serving /metrics and /healthz on http://{host}:{endpoint.port}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    folding = False
    held: list[Batch] = []

    def on_batch(source: Source, batch: Batch) -> None:
        if folding:
            held.append(batch)  # (applied as soon as the fold is done: the aggregator has one user at a time)
        else:
            apply_batch(agg, batch, overlap=overlap)

    def fold(now: float, statuses: list[dict]) -> tuple[list, list | None]:
        transitions = monitor.evaluate(agg, sources, now, deliver=False)
        return transitions, exporter.build(agg, now, statuses, monitor.active, counted)

    async def refresh() -> None:
        """Alerts and the exported view, folded in a thread (a big aggregate takes a while): the loop
        keeps answering scrapes and receiving meanwhile; batches that arrive wait for the fold."""
        nonlocal folding
        now = time.time()
        statuses = source_statuses(sources, overlap)
        folding = True
        try:
            transitions, families = await asyncio.to_thread(fold, now, statuses)
        finally:
            folding = False
            for batch in held:
                apply_batch(agg, batch, overlap=overlap)
            held.clear()
        monitor.dispatcher.deliver(transitions)  # log and command, from the event loop
        if families is not None:
            await asyncio.to_thread(exporter.publish, families, statuses)

    errors: dict[str, str | None] = {}
    try:
        async with following(sources, on_batch) as tasks:
            await refresh()
            while not stop.is_set():
                try:  # (not wait_for: on 3.11 it can swallow a cancellation that meets the stop)
                    async with asyncio.timeout(min(args.interval, monitor.interval)):
                        await stop.wait()
                except TimeoutError:
                    pass
                await refresh()
                _report(sources, tasks, errors)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await endpoint.aclose()
        await monitor.aclose()
    return 0


def _report(sources: list[Source], tasks: list[asyncio.Task[None]], errors: dict[str, str | None]) -> None:
    """A source's error (or recovery) once on stderr, for the journal; a crashed follower likewise."""
    for source, task in zip(sources, tasks):
        error = source.status.error
        if task.done() and not task.cancelled() and task.exception() is not None and error is None:
            source.status.fail(f"{type(task.exception()).__name__}: {task.exception()}")
            error = source.status.error
        if error != errors.get(source.name):
            errors[source.name] = error
            what = f"error: {visible(error, 300)}" if error else "recovered"
            print(f"tokentop: {visible(source.name, 60)}: {what}", file=sys.stderr, flush=True)
