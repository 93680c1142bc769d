"""``start = "since:TIME"`` on a big history: daily-rotated files ending before TIME are skipped whole, a big
file is entered by bisection. The source's reading is timed in-process, alternately with reading the whole
history (``start = "beginning"``) and with a bare ``orjson.loads`` of every line, in the same run.

    PYTHONPATH=src python benchmarks/jsonl_since.py [--days 30] [--per-day 30000] [--runs 3]

Generates (deterministically, in a temporary directory) DAYS daily files and one file holding all of
them, then reads the last 12 hours of each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import orjson

from tokentop.config import Config
from tokentop.sources.jsonl import make_source

DAY0 = 1_767_225_600


def generate(folder: Path, days: int, per_day: int) -> Path:
    """DAYS daily files (mtime: the end of their day) in ``folder``/daily, and their concatenation."""
    (folder / "daily").mkdir()
    whole = folder / "all.jsonl"
    with whole.open("wb") as everything:
        for day in range(days):
            path = folder / "daily" / f"gw-{day:02d}.jsonl"
            data = b"".join(orjson.dumps({
                "timestamp": DAY0 + day * 86400 + i * 86400 / per_day, "request_id": f"r{day}-{i}",
                "user": f"user_{i % 1000:04d}", "provider": "openai", "model": "gpt-4o", "prompt_tokens": 800 + i % 500,
                "completion_tokens": 250, "total_tokens": 1050 + i % 500, "token_source": "actual",
                "latency_ms": 900, "status": "success", "cost_usd": 0.0123}) + b"\n" for i in range(per_day))
            path.write_bytes(data)
            everything.write(data)
            os.utime(path, (DAY0 + day * 86400 + 86399,) * 2)
    return whole


async def read(pattern: str, start: str) -> tuple[float, int, int]:
    source = make_source("bench", {"path": pattern, "start": start}, Config())
    started = time.perf_counter()
    events = 0
    async for batch in source.batches(follow=False):
        events += len(batch.events)
    assert source.progress is not None
    return time.perf_counter() - started, events, source.progress.total


def bare(paths: list[Path]) -> float:
    started = time.perf_counter()
    for path in paths:
        with path.open("rb") as f:
            for line in f:
                orjson.loads(line)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    since = f"since:{DAY0 + (args.days - 1) * 86400 + 43200}"
    with tempfile.TemporaryDirectory() as tmp:
        whole = generate(Path(tmp), args.days, args.per_day)
        daily = str(Path(tmp) / "daily" / "*.jsonl")
        for label, pattern, paths in (("daily files", daily, sorted((Path(tmp) / "daily").glob("*.jsonl"))),
                                      ("one file", str(whole), [whole])):
            full, last, plain = [], [], []
            for _ in range(args.runs):  # alternately, in the same run
                full.append(asyncio.run(read(pattern, "beginning")))
                last.append(asyncio.run(read(pattern, since)))
                plain.append(bare(paths))
            f, s, b = (statistics.median(x[0] for x in full), statistics.median(x[0] for x in last),
                       statistics.median(plain))
            size = sum(p.stat().st_size for p in paths)
            print(f"{label} ({args.days} days, {size / 1e6:.0f} MB), median of {args.runs}: the last 12 h "
                  f"(since) {s:.3f} s, {last[0][1]} events, {last[0][2] / 1e6:.1f} MB read; the whole history "
                  f"(beginning) {f:.2f} s; bare orjson.loads of every line {b:.2f} s; since/bare {s / b:.3f}")


if __name__ == "__main__":
    main()
