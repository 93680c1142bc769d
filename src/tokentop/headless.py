"""``tokentop snapshot`` and ``tokentop check``: read sources to their end, aggregate, report."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import orjson

from tokentop.backfill import prefill
from tokentop.checkpoint import FULL, CheckpointStore, state_dir
from tokentop.config import Config, ConfigError, SourceConfig, load_config
from tokentop.core.aggregate import Aggregator
from tokentop.core.overlap import RequestOverlap
from tokentop.core.snapshot import GROUPS, Snapshot, take_snapshot
from tokentop.ingest import counted_sources, drain, drop_raw_lines, overlap_for, source_statuses, time_filter
from tokentop.report import folded_note, render_csv, render_text
from tokentop.resume import resume_or_open, save, tell
from tokentop.sources.base import UNREAD, Source
from tokentop.sources.registry import command_line_configs


def source_specs(args: argparse.Namespace, config: Config) -> list[SourceConfig]:
    """Sources from the command line (``--reference`` ones last), else every source declared in config."""
    specs = command_line_configs(args.sources, getattr(args, "reference", None) or [], config)
    if not specs:
        raise ConfigError(config.path, "", "no SOURCE given and no [sources] in config")
    return specs


def checkpoint_store(args: argparse.Namespace, specs: list[SourceConfig], config: Config) -> CheckpointStore | None:
    """The checkpoint store, unless ``--no-checkpoint``. With ``--since``/``--until`` only the records
    of a span are counted: such a run neither uses nor writes the checkpoint (of all history)."""
    if getattr(args, "no_checkpoint", False) or args.since is not None or args.until is not None:
        return None
    return CheckpointStore(state_dir(getattr(args, "state_dir", None)), specs, config)


def read_all(args: argparse.Namespace) -> tuple[Config, Aggregator, list[Source], float, RequestOverlap | None]:
    """Read the sources to their end -- from the checkpoint when there is a usable one -- and save
    where they stopped for the next run."""
    config = load_config(args.config)
    specs = source_specs(args, config)
    store = checkpoint_store(args, specs, config)

    async def read() -> tuple[Aggregator, list[Source], RequestOverlap | None]:
        resumed = await resume_or_open(store, [FULL], specs, config, time.time,
                                       accept=lambda checkpoint: checkpoint.since is None)
        tell(resumed)
        drop_raw_lines(resumed.sources)
        carried = resumed.checkpoint.alerts if resumed.checkpoint is not None else None
        overlap = resumed.overlap if resumed.overlap is not None else overlap_for(resumed.sources)

        def save_checkpoint() -> None:
            if store is not None:
                problem = save(store, FULL, resumed.sources, resumed.aggregator, None, carried, overlap)
                if problem:
                    print(f"tokentop: {problem}", file=sys.stderr)

        keep = time_filter(args.since, args.until)
        if resumed.checkpoint is None and keep is None and overlap is None:  # a cold read: on every core
            for notice in await prefill(resumed.sources, resumed.specs, config, resumed.aggregator,
                                        workers=getattr(args, "workers", None)):
                print(f"tokentop: {notice}", file=sys.stderr)
        await drain(resumed.sources, resumed.aggregator, keep, overlap, save_checkpoint)
        return resumed.aggregator, resumed.sources, overlap

    agg, sources, overlap = asyncio.run(read())
    return config, agg, sources, time.time(), overlap


def build(args: argparse.Namespace) -> tuple[Config, Aggregator, list[Source], Snapshot]:
    config, agg, sources, now, overlap = read_all(args)
    snap = take_snapshot(
        agg, now, window=args.window, statuses=source_statuses(sources, overlap),
        counted=counted_sources(sources), recent=0,
    )
    return config, agg, sources, snap


def snapshot(args: argparse.Namespace) -> int:
    _, _, sources, snap = build(args)
    doc = snap.to_json()
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    elif args.csv:
        sys.stdout.write(render_csv(doc))
    else:
        sys.stdout.write(render_text(doc))
    return 2 if all(s.status.state in UNREAD for s in sources) else 0


def check(args: argparse.Namespace) -> int:
    from tokentop.alerting import check_exit_status, evaluate_once

    config, agg, sources, snap = build(args)
    alerts = evaluate_once(agg, sources, config, snap.generated_at)
    full = snap.to_json()
    doc = {"generated_at": full["generated_at"], "alerts": [a.to_dict() for a in alerts],
           "sources": list(snap.sources), "key_cap": full["key_cap"]}
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        from tokentop.core.sanitize import visible

        for a in alerts:
            print(f"{a.severity.upper():8} {a.rule:18} {visible(a.subject, 60)}: {visible(a.message, 200)}")
        if not alerts:
            print("ok: no alerts")
        for group in GROUPS:  # a user folded into (other) has no quota alert of their own: say so
            if note := folded_note(full, group):
                print(f"note: {note}")
    return check_exit_status(alerts, sources)
