"""``tokentop tail SOURCE...``: follow sources and print every normalised event as it arrives.

One readable line per event (untrusted text shown through ``visible()``), or one JSON object per line
with ``--json``. Output is flushed per batch; skipped records and source errors go to stderr with
their reasons. Ctrl-C, SIGTERM and ``--exit-idle`` end it cleanly with status 0.

A format that reports a request over several records (Claude Code's streamed responses, a re-exported
span) can retract an event already printed when a later record of the same request supersedes it:
the event is printed again, marked (``RETRACTED`` first in the line; ``"retracted": true`` in JSON),
so that the printed events less the retracted ones are what every other command counts.

Where each source starts is the same for every kind: only what arrives from now on (``start = "end"``),
unless ``--from-start``, ``--tail N`` or ``--since TIME`` say otherwise, or the config gives the source
a ``start`` of its own (the flags win over the config).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from collections import Counter
from typing import IO, Any

import orjson

from tokentop.config import Config, ConfigError, SourceConfig, load_config
from tokentop.core.event import UsageEvent, event_to_dict, iso
from tokentop.core.sanitize import visible
from tokentop.ingest import following
from tokentop.sources.base import Batch, Source
from tokentop.sources.registry import command_line_configs, open_source

DEFAULT_START = "end"
"""Where ``tail`` starts a source without a flag or a configured ``start``: the same for every kind."""
_RECORDS = {"postgres": {"sum_history": False}, "sqlite": {"sum_history": False}}
"""tail prints records: a history summed by the database has none, so such kinds read it row by row."""
MARKERS = {"actual": "", "estimated": " ~est", "missing": " ?missing"}
"""How a line shows that its counts are not the provider's own."""


def start_option(args: argparse.Namespace) -> Any:
    """The ``start`` option the backfill flags ask for (None: no flag given)."""
    if args.from_start:
        return "beginning"
    if args.tail is not None:
        return max(args.tail, 0)
    if args.since is not None:
        return f"since:{args.since}"
    return None


def tail_sources(args: argparse.Namespace, config: Config) -> list[Source]:
    """Sources from SOURCE arguments (or config) and ``--reference``, started as the flags say (every
    kind alike); without a flag, as the config says, else at their end."""
    specs = command_line_configs(args.sources, getattr(args, "reference", None) or [], config)
    if not specs:
        raise ConfigError(config.path, "", "no SOURCE given and no [sources] in config")
    start = start_option(args)
    specs = [SourceConfig(s.name, s.kind, {**s.options, "start": start if start is not None else
                                            s.options.get("start", DEFAULT_START), **_RECORDS.get(s.kind, {})})
             for s in specs]
    return [open_source(s, config) for s in specs]


def format_event(event: UsageEvent) -> str:
    """One readable line: time, source, user, provider/model, prompt/completion/total, marker, cost."""
    cost = "-" if event.cost is None else f"${event.cost:.4f}{'*' if event.cost_computed else ''}"
    return (
        f"{iso(event.ts)}  {visible(event.source, 24)}  {visible(event.user or '-', 32)}  "
        f"{visible(event.provider, 20)}/{visible(event.model, 48)}  "
        f"{event.prompt_tokens}+{event.completion_tokens}={event.total_tokens}"
        f"{MARKERS[event.token_source]}{' !mismatch' if event.mismatched else ''}  {cost}"
    )


class Printer:
    """Writes events to ``out`` and news about skips and errors to ``err``."""

    def __init__(self, as_json: bool, out: IO[bytes], err: IO[str]) -> None:
        self.as_json, self.out, self.err = as_json, out, err
        self.reported: dict[str, Counter[str]] = {}
        self.errors: dict[str, str | None] = {}
        self.waiting: dict[str, str | None] = {}

    def events(self, events: list[UsageEvent], retracted: list[UsageEvent] | tuple[()] = ()) -> None:
        """Print the retracted events (printed before, now superseded), then the new ones."""
        if self.as_json:
            data = b"".join(orjson.dumps({**event_to_dict(e), "retracted": True}) + b"\n" for e in retracted)
            data += b"".join(orjson.dumps(event_to_dict(e)) + b"\n" for e in events)
        else:
            lines = [f"RETRACTED {format_event(e)}" for e in retracted] + [format_event(e) for e in events]
            data = "".join(line + "\n" for line in lines).encode("utf-8", "replace")
        self.out.write(data)
        self.out.flush()

    def news(self, sources: list[Source]) -> None:
        """Report skips (by reason) and error changes since the last call."""
        for source in sources:
            status = source.status
            before = self.reported.setdefault(source.name, Counter())
            fresh = status.skip_reasons - before
            if fresh:
                reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(fresh.items()))
                self.err.write(f"tokentop: {visible(source.name, 60)}: skipped {sum(fresh.values())} "
                               f"record(s) ({reasons}); last: {visible(status.last_skip or '', 200)}\n")
                before.update(fresh)
            waiting = status.detail if status.state == "waiting" else None
            if waiting != self.waiting.get(source.name):  # its file is missing, or has appeared
                if waiting:
                    self.err.write(f"tokentop: {visible(source.name, 60)}: {visible(waiting, 300)}\n")
                elif source.name in self.waiting:
                    self.err.write(f"tokentop: {visible(source.name, 60)}: its file appeared; following it\n")
                self.waiting[source.name] = waiting
            if status.error != self.errors.get(source.name):
                self.errors[source.name] = status.error
                if status.error:
                    self.err.write(f"tokentop: {visible(source.name, 60)}: error: {visible(status.error, 300)}\n")
                elif source.name in self.errors:
                    self.err.write(f"tokentop: {visible(source.name, 60)}: recovered\n")
        self.err.flush()


async def follow(sources: list[Source], printer: Printer, exit_idle: float | None) -> None:
    """Print events until SIGINT/SIGTERM, or until ``exit_idle`` seconds pass without an event."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    last_event = time.monotonic()

    def show(source: Source, batch: Batch) -> None:
        nonlocal last_event
        if batch.events or batch.retracted:
            last_event = time.monotonic()
            printer.events(batch.events, batch.retracted)
        printer.news(sources)

    try:
        async with following(sources, show) as tasks:
            while not stop.is_set() and not all(t.done() for t in tasks):
                try:  # (not wait_for: on 3.11 it can swallow a cancellation that meets the stop)
                    async with asyncio.timeout(0.2):
                        await stop.wait()
                except TimeoutError:
                    pass
                printer.news(sources)
                for task in tasks:
                    if task.done() and not task.cancelled() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
                if exit_idle is not None and time.monotonic() - last_event >= exit_idle:
                    break
    finally:
        printer.news(sources)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    sources = tail_sources(args, config)
    printer = Printer(args.json, sys.stdout.buffer, sys.stderr)
    try:
        asyncio.run(follow(sources, printer, args.exit_idle))
    except BrokenPipeError:  # `tokentop tail ... | head`: the reader has gone, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush cannot fail
    return 0
