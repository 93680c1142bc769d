"""JSONL follower benchmark: append-to-event latency with a real writer process, and backfill
throughput of the source against a bare ``orjson.loads`` of every line.

    PYTHONPATH=src python benchmarks/jsonl_follow.py [--appends 200] [--rate 50] [--lines 300000]

Target: p99 append-to-event latency under 250 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

from tokentop.config import Config
from tokentop.sources.jsonl import make_source

WRITER = r"""
import json, os, sys, time
path, count, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
for seq in range(count):
    line = json.dumps({"ts": time.time(), "request_id": f"r{seq}", "model": "gpt-4o",
                       "prompt_tokens": 10, "completion_tokens": 5, "written_at": time.time()})
    os.write(fd, line.encode() + b"\n")
    time.sleep(1 / rate)
"""


async def latency(folder: Path, appends: int, rate: float) -> list[float]:
    log = folder / "live.jsonl"
    log.write_bytes(b"")
    source = make_source("bench", {"path": str(log)}, Config())
    delays: list[float] = []

    async def consume() -> None:
        async for batch in source.batches(follow=True):
            now = time.time()
            delays.extend(now - orjson.loads(e.raw)["written_at"] for e in batch.events if e.raw)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.5)
    writer = await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, str(log), str(appends), str(rate))
    await writer.wait()
    deadline = time.monotonic() + 5
    while len(delays) < appends and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return delays


def generate(path: Path, lines: int) -> None:
    models = [("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4"), ("gemini", "gemini-2.5-pro")]
    with path.open("wb") as f:
        for i in range(lines):
            provider, model = models[i % 3]
            f.write(orjson.dumps({
                "timestamp": f"2026-01-01T00:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}Z",
                "request_id": f"req-{i}", "user": f"user_{i % 1000:04d}", "provider": provider, "model": model,
                "prompt_tokens": 800 + i % 500, "completion_tokens": 250 + i % 100, "total_tokens": 1050 + i % 600,
                "token_source": "actual", "latency_ms": 900, "status": "success", "cost_usd": 0.0123,
            }) + b"\n")


async def backfill(path: Path) -> tuple[int, float]:
    source = make_source("bench", {"path": str(path)}, Config())
    started = time.perf_counter()
    events = 0
    async for batch in source.batches(follow=False):
        events += len(batch.events)
    return events, time.perf_counter() - started


async def backfill_following(path: Path, lines: int) -> float:
    """The same history read by a follower (``start = "beginning"``, ``follow=True``), until caught up:
    what the live app or ``tail --from-start`` does; it also keeps the line index (truncations)."""
    source = make_source("bench", {"path": str(path), "start": "beginning"}, Config())
    started = time.perf_counter()
    events = 0
    async for batch in source.batches(follow=True):
        events += len(batch.events)
        if events >= lines:
            break
    seconds = time.perf_counter() - started
    await source.aclose()
    return seconds


def bare_orjson(path: Path) -> tuple[int, float]:
    started = time.perf_counter()
    count = 0
    with path.open("rb") as f:
        for line in f:
            orjson.loads(line)
            count += 1
    return count, time.perf_counter() - started


def decoder_only(path: Path) -> float:
    """The normaliser's share: the same lines through LineDecoder, already in memory."""
    from tokentop.core.lines import LineDecoder, split_lines
    from tokentop.sources.options import normaliser_for

    lines, _ = split_lines(path.read_bytes())
    decoder = LineDecoder(normaliser_for("bench", {}, Config()), lambda problem: None)
    started = time.perf_counter()
    decoder.decode(lines, time.time())
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appends", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50.0, help="appends per second")
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        delays = sorted(asyncio.run(latency(folder, args.appends, args.rate)))
        ms = [d * 1000 for d in delays]
        p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))] if ms else float("nan")
        print(f"latency: {len(ms)}/{args.appends} appends seen at {args.rate:g}/s: median "
              f"{statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms (target p99 < 250 ms)")
        big = folder / "big.jsonl"
        generate(big, args.lines)
        size = big.stat().st_size
        src, bare, dec, fol = [], [], [], []
        for _ in range(args.runs):
            n, seconds = asyncio.run(backfill(big))
            assert n == args.lines, n
            src.append(seconds)
            bare.append(bare_orjson(big)[1])
            dec.append(decoder_only(big))
            fol.append(asyncio.run(backfill_following(big, args.lines)))
        s, b, d = statistics.median(src), statistics.median(bare), statistics.median(dec)
        print(f"backfill: {args.lines} lines ({size / 1e6:.1f} MB), median of {args.runs}: source {s:.2f} s "
              f"({args.lines / s / 1000:.0f} k lines/s), bare orjson.loads {b:.2f} s "
              f"({args.lines / b / 1000:.0f} k lines/s); source/bare time ratio {s / b:.2f}")
        print(f"          normalising the same lines in memory (LineDecoder): {d:.2f} s "
              f"({args.lines / d / 1000:.0f} k lines/s); file reading + batching overhead {100 * (s - d) / s:.0f}%")
        f = statistics.median(fol)
        print(f"          the same read by a follower (start=beginning, line index kept): {f:.2f} s "
              f"({args.lines / f / 1000:.0f} k lines/s); follower/bare time ratio {f / b:.2f}")


if __name__ == "__main__":
    main()
