"""``tokentop snapshot`` and ``tokentop check``: read sources to their end, aggregate, report."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import orjson

from tokentop.config import Config, load_config
from tokentop.core.aggregate import Aggregator
from tokentop.core.snapshot import Snapshot, take_snapshot
from tokentop.core.overlap import RequestOverlap
from tokentop.ingest import counted_sources, drain, overlap_for, source_statuses, time_filter
from tokentop.report import render_csv, render_text
from tokentop.sources.base import Source
from tokentop.sources.registry import command_line_sources


def read_all(args: argparse.Namespace) -> tuple[Config, Aggregator, list[Source], float, RequestOverlap | None]:
    config = load_config(args.config)
    sources = command_line_sources(args.sources, args.reference, config)
    agg = Aggregator(config.plans, clock=time.time)  # old records build no minute cells
    overlap = overlap_for(sources)
    asyncio.run(drain(sources, agg, time_filter(args.since, args.until), overlap))
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
    return 2 if all(s.status.state == "error" for s in sources) else 0


def check(args: argparse.Namespace) -> int:
    from tokentop.alerting import check_exit_status, evaluate_once

    config, agg, sources, snap = build(args)
    alerts = evaluate_once(agg, sources, config, snap.generated_at)
    doc = {"generated_at": snap.to_json()["generated_at"], "alerts": [a.to_dict() for a in alerts],
           "sources": list(snap.sources)}
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        from tokentop.core.sanitize import visible

        for a in alerts:
            print(f"{a.severity.upper():8} {a.rule:18} {visible(a.subject, 60)}: {visible(a.message, 200)}")
        if not alerts:
            print("ok: no alerts")
    return check_exit_status(alerts, sources)
