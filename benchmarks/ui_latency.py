"""Live monitor latency and CPU, headless (``App.run_test``) at 160x48, following a real file.

1. Append-to-screen latency: a writer process appends one record at random intervals (0.2-0.4 s); the
   latency is from just before the append to the moment the panels have shown that request (the
   frame is painted right after). Median and p99 at each refresh rate.
2. CPU of the app process (``time.process_time`` over a window): idle (following, nothing written);
   while a writer process appends 10,000 events/s (reading + parsing + the app); and with 100 and
   10,000 already-normalised events/s fed in-process (the app's own share: aggregation, snapshots,
   panels).
3. Event-loop lag (what a key press or a repaint waits) with a big aggregate (6,000 keys) folded into
   a snapshot every tick.

Uses the real JSONL source when this build has it, else the test poller (tests/ui/support.py).

    PYTHONPATH=$PWD/src python benchmarks/ui_latency.py [--samples 60] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WRITER = r"""
import os, random, sys, time
path, mode, amount = sys.argv[1], sys.argv[2], float(sys.argv[3])
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
def line(i, now):
    return (b'{"ts": %.6f, "request_id": "w%.6f", "user": "u%d", "provider": "openai", "model": "gpt-4o",'
            b' "prompt_tokens": 120, "completion_tokens": 30}\n' % (now, now, i % 40))
if mode == "latency":
    for i in range(int(amount)):
        time.sleep(random.uniform(0.2, 0.4))
        os.write(fd, line(i, time.time()))
else:  # rate: `amount` events per second in 10 ms slices, until killed
    per_slice, i, start = int(amount / 100), 0, time.monotonic()
    while True:
        now = time.time()
        os.write(fd, b"".join(line(i + k, now) for k in range(per_slice)))
        i += per_slice
        start += 0.01
        time.sleep(max(0.0, start - time.monotonic()))
"""


def open_follower(path: Path):  # noqa: ANN201
    from tokentop.config import Config
    from tokentop.sources.registry import open_source

    return open_source(str(path), Config()), "tokentop.sources.jsonl"


class DecodedSource:
    """Already-normalised events at a fixed rate: the app's own cost without any parsing."""

    def __init__(self, rate: float) -> None:
        from tokentop.sources.base import SourceStatus

        self.name, self.kind, self.role, self.rate = "decoded", "bench", "primary", rate
        self.status = SourceStatus(self.name, self.kind)

    async def batches(self, follow: bool):  # noqa: ANN201
        from tokentop.core.event import UsageEvent
        from tokentop.sources.base import Batch

        per_slice, i, start = int(self.rate / 100), 0, time.monotonic()
        while True:
            now = time.time()
            events = [UsageEvent(ts=now, source="decoded", request_id=f"d{i + k}", user=f"u{(i + k) % 40}",
                                 provider="openai", model="gpt-4o", prompt_tokens=120, completion_tokens=30,
                                 total_tokens=150) for k in range(per_slice)]
            i += per_slice
            self.status.saw(events, now)
            yield Batch(events=events)
            start += 0.01
            await asyncio.sleep(max(0.0, start - time.monotonic()))

    async def aclose(self) -> None:
        pass


def make_app(path: Path | None, refresh: float, rate: float = 0.0):  # noqa: ANN201
    from tokentop.ui.app import TokentopApp

    class TimedApp(TokentopApp):
        """Records when each request first reached the panels."""

        shown_at: dict[str, float]

        def _show_panels(self, snap):  # noqa: ANN001, ANN202
            super()._show_panels(snap)
            now = time.time()
            for e in snap.recent:
                if e.request_id and e.request_id not in self.shown_at:
                    self.shown_at[e.request_id] = now

    source, kind = open_follower(path) if path is not None else (DecodedSource(rate), "decoded")
    app = TimedApp([source], refresh_hz=refresh)
    app.shown_at = {}
    return app, kind


def writer(path: Path, mode: str, amount: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), mode, str(amount)])


async def latency(path: Path, refresh: float, samples: int) -> tuple[list[float], str]:
    app, kind = make_app(path, refresh)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(1.0)
        proc = writer(path, "latency", samples)
        while proc.poll() is None:
            await pilot.pause(0.1)
        await pilot.pause(1.5)
    lat = [(shown - float(rid[1:])) * 1000 for rid, shown in app.shown_at.items() if rid.startswith("w")]
    return lat, kind


async def cpu(path: Path | None, seconds: float, rate: float | None) -> tuple[float, int]:
    app, _ = make_app(path, 2.0, rate or 0.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(1.0)
        proc = writer(path, "rate", rate) if rate and path is not None else None
        await pilot.pause(1.0)
        events0, cpu0, wall0 = app.aggregator.events, time.process_time(), time.monotonic()
        await pilot.pause(seconds)
        used, wall = time.process_time() - cpu0, time.monotonic() - wall0
        ingested = app.aggregator.events - events0
        if proc:
            proc.kill()
            proc.wait()
    return 100.0 * used / wall, ingested


async def loop_lag(users: int, events: int) -> tuple[int, list[float]]:
    """Event-loop lag (what keys and repaints wait) with a big aggregate being folded every tick."""
    import random

    from tokentop.core.event import UsageEvent
    from tokentop.sources.base import Batch
    from tokentop.ui.app import TokentopApp

    sys.path.insert(0, str(ROOT / "tests" / "ui"))
    from support import ListSource

    now = time.time()
    batch = Batch(events=[UsageEvent(ts=now - random.random() * 3600, source="g", user=f"u{i % users}",
                                     provider=f"p{i % 10}", model=f"m{i % 30}", prompt_tokens=10,
                                     completion_tokens=5, total_tokens=15) for i in range(events)])
    app = TokentopApp([ListSource("g", [batch])])
    async with app.run_test(size=(160, 48)) as pilot:
        while app.aggregator.events < events:
            await pilot.pause(0.1)
        await pilot.pause(1.0)
        lags = []
        for _ in range(300):
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append((time.perf_counter() - start - 0.01) * 1000)
    return len(app.aggregator.total) + sum(map(len, app.aggregator.hours.values())), lags


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--users", type=int, default=2000, help="users in the big-aggregate lag test")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for refresh in (2.0, 4.0):
            path = Path(tmp) / f"latency-{refresh:g}.jsonl"
            path.touch()
            lat, kind = asyncio.run(latency(path, refresh, opts.samples))
            print(f"append-to-screen at {refresh:g} Hz ({kind}): n={len(lat)} median {statistics.median(lat):.0f} ms,"
                  f" p99 {pct(lat, 0.99):.0f} ms, max {max(lat):.0f} ms")
        idle_path = Path(tmp) / "idle.jsonl"
        idle_path.touch()
        idle, _ = asyncio.run(cpu(idle_path, opts.seconds, None))
        print(f"CPU idle (following, 2 Hz): {idle:.1f} % of one core over {opts.seconds:g} s")
        busy_path = Path(tmp) / "busy.jsonl"
        busy_path.touch()
        busy, ingested = asyncio.run(cpu(busy_path, opts.seconds, opts.rate))
        print(f"CPU following a file written at {opts.rate:,.0f} events/s (2 Hz): {busy:.1f} % of one core; "
              f"ingested {ingested / opts.seconds:,.0f} events/s")
        for rate in (100.0, opts.rate):
            app_only, ingested = asyncio.run(cpu(None, opts.seconds, rate))
            print(f"CPU for {rate:,.0f} already-decoded events/s (aggregation + snapshots + panels, 2 Hz):"
                  f" {app_only:.1f} % of one core; ingested {ingested / opts.seconds:,.0f} events/s")
        keys, lags = asyncio.run(loop_lag(opts.users, 200_000))
        print(f"event-loop lag with {keys:,} keys / 200,000 events in the last hour (1h window, 2 Hz):"
              f" median {statistics.median(lags):.1f} ms, p99 {pct(lags, 0.99):.1f} ms, max {max(lags):.1f} ms")


if __name__ == "__main__":
    main()
