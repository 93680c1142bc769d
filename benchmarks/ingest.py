"""Ingest benchmark: tokentop's read + normalise + aggregate path against the bare JSON parse.

One run prints everything:

* lines/s of the fastest bare parse of the file (max of ``orjson.loads`` and a reused
  ``msgspec.json.Decoder().decode`` per line; 1 MiB chunks + split, no normalisation);
* lines/s of tokentop's pipeline (1 MiB chunks -> ``split_lines`` -> ``LineDecoder.decode`` ->
  ``Aggregator.add_many``, then one ``take_snapshot``), each run in a fresh subprocess so that its
  peak RSS is its own, at a quarter of the file and at the whole file (memory must not grow with it);
* the ratio pipeline / bare parse (target >= 0.5).

    PYTHONPATH=src python benchmarks/ingest.py [--lines N] [--repeat R] [--profile] [--stages] [--src DIR]

``--stages`` instead prints where a line's time goes, in us/line (best of 3, lines already in memory,
in this process: the tree measured is the one on PYTHONPATH):
bare parse, the typed path's decode alone (the lane decodes most lines, faster), normalise (LineDecoder.decode), aggregate
(Aggregator.add_many of those events).

The data set (``benchmarks/.data/usage-N.jsonl``, gitignored) is generated once and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
CHUNK = 1 << 20


def data_file(lines: int) -> Path:
    from gen_jsonl import generate

    path = HERE / ".data" / f"usage-{lines}.jsonl"
    if not path.exists():
        print(f"generating {lines:,} lines into {path} ...", flush=True)
        generate(path, lines)
    return path


def chunked_lines(path: Path, limit: int | None = None) -> Iterator[list[bytes]]:
    """Complete lines per 1 MiB read, the way the file sources read (partial line carried over)."""
    from tokentop.core.lines import split_lines

    rest = b""
    seen = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            lines, rest = split_lines(rest + chunk)
            if limit is not None and seen + len(lines) >= limit:
                yield lines[: limit - seen]
                return
            seen += len(lines)
            yield lines
    if rest:
        yield [rest]


def bare_parse(path: Path, decode: Callable[[bytes], object]) -> tuple[int, float]:
    count = 0
    start = time.perf_counter()
    for lines in chunked_lines(path):
        for line in lines:
            try:
                decode(line)
            except ValueError:
                pass
            count += 1
    return count, time.perf_counter() - start


def pipeline(path: Path, limit: int | None, profile: bool) -> dict:
    """tokentop's hot path over the file; returns lines, seconds, events, skips and peak RSS."""
    from tokentop.core.aggregate import Aggregator
    from tokentop.core.lines import LineDecoder
    from tokentop.core.normalise import NormaliseOptions, Normaliser
    from tokentop.core.snapshot import take_snapshot

    skips: dict[str, int] = {}
    decoder = LineDecoder(Normaliser(NormaliseOptions(source="bench")),
                          lambda p: skips.__setitem__(p.reason, skips.get(p.reason, 0) + 1))
    agg = Aggregator(clock=time.time)  # as ``tokentop snapshot`` builds it
    lines_read = 0
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    start = time.perf_counter()
    for lines in chunked_lines(path, limit):
        lines_read += len(lines)
        agg.add_many(decoder.decode(lines, time.time()))
    snap = take_snapshot(agg, time.time())
    elapsed = time.perf_counter() - start
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    return {
        "lines": lines_read,
        "seconds": elapsed,
        "events": agg.events,
        "total_tokens": snap.totals.total_tokens,
        "skips": skips,
        "cells": len(agg.total),
        "minute_buckets": len(agg.minutes),
        "minute_cells": sum(map(len, agg.minutes.values())),
        "hour_buckets": len(agg.hours),
        "hour_cells": sum(map(len, agg.hours.values())),
        "period_cells": sum(map(len, agg.periods.values())),
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def stages(path: Path, limit: int | None) -> None:
    """us/line of each stage of the pipeline, measured apart on lines already read."""
    import msgspec
    import orjson

    from tokentop.core.aggregate import Aggregator
    from tokentop.core.lines import LineDecoder
    from tokentop.core.normalise import NormaliseOptions, Normaliser

    chunks = list(chunked_lines(path, limit))
    n = sum(map(len, chunks))

    def best(run: Callable[[], object]) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return min(times) / n * 1e6

    def each(function: Callable[[bytes], object]) -> Callable[[], None]:
        def run() -> None:
            for lines in chunks:
                for line in lines:
                    function(line)
        return run

    def decoded(keep: bool) -> list[list]:
        decoder = LineDecoder(Normaliser(NormaliseOptions(source="bench")), lambda p: None)
        out = []
        for lines in chunks:
            events = decoder.decode(lines, 0.0)
            if keep:
                out.append(events)
        return out

    def normalise() -> None:
        decoded(keep=False)  # events dropped as the pipeline drops them (after aggregating)

    batches = decoded(keep=True)

    def aggregate() -> None:
        agg = Aggregator(clock=time.time)
        for events in batches:
            agg.add_many(events)

    print(f"{n:,} lines, us/line (best of 3):")
    print(f"  bare orjson.loads              {best(each(orjson.loads)):6.2f}")
    print(f"  bare msgspec decode            {best(each(msgspec.json.Decoder().decode)):6.2f}")
    try:  # an older tree (PYTHONPATH) has no typed fast path
        from tokentop.core.formats.app_typed import decode_line
    except ImportError:
        pass
    else:
        print(f"  typed app decode (of every spelling; the lane's Struct, of the keys a log uses, is faster) "
              f"{best(each(decode_line)):.2f}")
    print(f"  normalise (LineDecoder.decode) {best(normalise):6.2f}")
    print(f"  aggregate (add_many)           {best(aggregate):6.2f}")


def pipeline_in_subprocess(path: Path, limit: int | None, src: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))}
    args = [sys.executable, __file__, "--child", str(path)] + ([] if limit is None else ["--limit", str(limit)])
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="alternate bare/pipeline passes R times")
    parser.add_argument("--profile", action="store_true", help="cProfile the pipeline in-process instead")
    parser.add_argument("--stages", action="store_true", help="print us/line per stage instead")
    parser.add_argument("--src", type=Path, default=HERE.parent / "src",
                        help="tokentop source tree to measure (e.g. an older checkout, for before/after)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(pipeline(Path(args.child), args.limit, profile=False)))
        return

    import msgspec
    import orjson

    path = data_file(args.lines)
    size = path.stat().st_size
    print(f"file: {path} ({size / 2**20:.1f} MiB, {args.lines:,} lines, {size / args.lines:.0f} B/line)")
    if args.stages:
        stages(path, None)
        return
    if args.profile:
        result = pipeline(path, None, profile=True)
        print(f"profiled pipeline: {result['lines'] / result['seconds']:,.0f} lines/s (slowed by the profiler)")
        return

    bare_rates: list[float] = []
    pipe_rates: list[float] = []
    whole: dict = {}
    for _ in range(args.repeat):
        for name, decode in (("orjson.loads", orjson.loads), ("msgspec Decoder.decode", msgspec.json.Decoder().decode)):
            n, secs = bare_parse(path, decode)
            bare_rates.append(n / secs)
            print(f"bare parse  {name:<24} {n / secs:>12,.0f} lines/s  ({secs:.2f} s)", flush=True)
        whole = pipeline_in_subprocess(path, None, args.src)
        pipe_rates.append(whole["lines"] / whole["seconds"])
        print(f"tokentop    read+normalise+aggregate {pipe_rates[-1]:>8,.0f} lines/s  ({whole['seconds']:.2f} s, "
              f"peak RSS {whole['maxrss_mib']:.1f} MiB)", flush=True)
    quarter = pipeline_in_subprocess(path, args.lines // 4, args.src)

    bare, pipe = max(bare_rates), statistics.median(pipe_rates)
    print()
    print(f"fastest bare parse:     {bare:>12,.0f} lines/s")
    print(f"tokentop pipeline:      {pipe:>12,.0f} lines/s (median of {len(pipe_rates)})")
    print(f"ratio tokentop / bare:  {pipe / bare:>12.2f}  (target >= 0.50)")
    print(f"events {whole['events']:,}, total tokens {whole['total_tokens']:,}, skips {whole['skips']}")
    for run in (quarter, whole):
        print(f"{run['lines']:>9,} lines: peak RSS {run['maxrss_mib']:6.1f} MiB (own subprocess); cells: "
              f"all-time {run['cells']:,}, minute {run['minute_cells']:,} in {run['minute_buckets']} buckets, "
              f"hour {run['hour_cells']:,} in {run['hour_buckets']} buckets, period {run['period_cells']:,}")
    print("State is bounded by distinct keys x retention (60 minute buckets, 25 hour buckets, 3 periods),")
    print("not by lines. The file's records are older than the clock, as in `tokentop snapshot` of an old")
    print("log: they build hour cells only, all merged into the all-time and period cells by the end.")
    print(f"peak RSS of this process (bare parses): "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
