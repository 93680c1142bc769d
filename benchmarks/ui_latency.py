"""The live monitor as a person sees it: the whole ``tokentop FILE`` process in a real terminal (a
pseudo-terminal of 160x48), side by side with ``tail -F FILE`` in one of its own, in the same run.

1. Append-to-screen latency: lines are appended at random intervals (0.1-0.3 s: at most 10 lines/s),
   alternately to tokentop's file and tail's; the latency is from just before the write to the
   moment the line's user name (unique per line) is written to the terminal. Target: p99 <= 150 ms.
2. CPU of the process (utime + stime from /proc, as a share of one core): idle (following, nothing
   written; target <= 1 %), and while a writer appends 10,000 lines/s (target <= 50 %). tokentop and
   tail are measured in alternate windows on the same file.
3. Optionally (``--lag``), the event-loop lag in-process with a big aggregate (6,000 keys) folded
   every tick: what a key press waits.

    PYTHONPATH=$PWD/src python benchmarks/ui_latency.py [--samples 60] [--seconds 10] [--rounds 2]

Linux only (/proc, pty). The machine is shared: read medians and pairs, not single figures.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZE = (160, 48)

WRITER = r"""
import os, sys, time
path, rate = sys.argv[1], float(sys.argv[2])
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
per_slice, i, start = max(1, int(rate / 100)), 0, time.monotonic()
while True:  # `rate` lines per second in 10 ms slices, until killed
    now = time.time()
    os.write(fd, b"".join(b'{"ts": %.6f, "request_id": "w%d", "user": "u%d", "provider": "openai", '
                          b'"model": "gpt-4o", "prompt_tokens": 120, "completion_tokens": 30}\n'
                          % (now, i + k, (i + k) % 40) for k in range(per_slice)))
    i += per_slice
    start += 0.01
    time.sleep(max(0.0, start - time.monotonic()))
"""


class Terminal:
    """A process in a pseudo-terminal; every byte it writes is kept with the time it was read."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(SIZE[0]), "LINES": str(SIZE[1]),
               "PYTHONPATH": str(ROOT / "src")}
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                                     start_new_session=True)
        os.close(slave)
        self.master = master
        self.output = bytearray()
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self.cond:
                self.output += chunk
                self.cond.notify_all()

    def wait_for(self, needle: bytes, start: int, timeout: float) -> float | None:
        """When ``needle`` first appeared in the output from offset ``start`` (None on timeout)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while needle not in self.output[max(0, start - len(needle)):]:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return time.monotonic()

    @property
    def offset(self) -> int:
        with self.lock:
            return len(self.output)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def tokentop(path: Path, refresh: float) -> Terminal:
    term = Terminal([sys.executable, "-m", "tokentop", str(path), "--refresh", f"{refresh:g}"], path.parent)
    if term.wait_for(b"Recent requests", 0, 60) is None:
        raise SystemExit("tokentop did not draw its screen: " + bytes(term.output[-400:]).decode(errors="replace"))
    time.sleep(1.5)
    return term


def tail(path: Path) -> Terminal:
    term = Terminal(["tail", "-n", "0", "-F", str(path)], path.parent)
    time.sleep(0.5)
    return term


def line(user: str) -> bytes:
    return (b'{"ts": %.6f, "user": "%s", "provider": "openai", "model": "gpt-4o", "prompt_tokens": 120, '
            b'"completion_tokens": 30}\n' % (time.time(), user.encode()))


def latency(tmp: Path, refresh: float, samples: int) -> dict[str, list[float]]:
    """Milliseconds from append to terminal, tokentop and tail alternately (each its own file)."""
    paths = {name: tmp / f"latency-{name}.jsonl" for name in ("tokentop", "tail")}
    for path in paths.values():
        path.touch()
    terms = {"tokentop": tokentop(paths["tokentop"], refresh), "tail": tail(paths["tail"])}
    out: dict[str, list[float]] = {name: [] for name in terms}
    try:
        for i in range(samples * 2):
            name = "tokentop" if i % 2 == 0 else "tail"
            time.sleep(random.uniform(0.1, 0.3))
            user = f"lat{i:05d}x"
            start_offset, start = terms[name].offset, time.monotonic()
            fd = os.open(paths[name], os.O_WRONLY | os.O_APPEND)
            os.write(fd, line(user))
            os.close(fd)
            seen = terms[name].wait_for(user.encode(), start_offset, 5.0)
            out[name].append(float("inf") if seen is None else (seen - start) * 1000)
    finally:
        for term in terms.values():
            term.close()
    return out


def cpu(tmp: Path, seconds: float, rate: float, rounds: int) -> dict[str, list[float]]:
    """Percent of one core, per window: tokentop and tail following the same file alternately."""
    path = tmp / f"cpu-{rate:g}.jsonl"
    path.touch()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(rate)]) if rate else None
    out: dict[str, list[float]] = {"tokentop": [], "tail": []}
    try:
        for _ in range(rounds):
            for name in ("tokentop", "tail"):
                term = tokentop(path, 2.0) if name == "tokentop" else tail(path)
                try:
                    time.sleep(1.0)
                    cpu0, wall0 = term.cpu_seconds(), time.monotonic()
                    time.sleep(seconds)
                    out[name].append(100 * (term.cpu_seconds() - cpu0) / (time.monotonic() - wall0))
                finally:
                    term.close()
    finally:
        if writer is not None:
            writer.kill()
            writer.wait()
    return out


def loop_lag(users: int, events: int) -> tuple[int, list[float]]:
    """Event-loop lag (what keys and repaints wait) with a big aggregate being folded every tick."""
    import asyncio

    from tokentop.core.event import UsageEvent
    from tokentop.sources.base import Batch
    from tokentop.ui.app import TokentopApp

    sys.path.insert(0, str(ROOT / "tests" / "ui"))
    from support import ListSource

    async def run() -> tuple[int, list[float]]:
        now = time.time()
        batch = Batch(events=[UsageEvent(ts=now - random.random() * 3600, source="g", user=f"u{i % users}",
                                         provider=f"p{i % 10}", model=f"m{i % 30}", prompt_tokens=10,
                                         completion_tokens=5, total_tokens=15) for i in range(events)])
        app = TokentopApp([ListSource("g", [batch])])
        async with app.run_test(size=SIZE) as pilot:
            while app.aggregator.events < events:
                await pilot.pause(0.1)
            await pilot.pause(1.0)
            lags = []
            for _ in range(300):
                start = time.perf_counter()
                await asyncio.sleep(0.01)
                lags.append((time.perf_counter() - start - 0.01) * 1000)
        return len(app.aggregator.total) + sum(map(len, app.aggregator.hours.values())), lags

    return asyncio.run(run())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.1f} ms, p99 {pct(values, 0.99):.1f} ms, max {max(values):.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=60, help="appends per follower and refresh rate")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each CPU window")
    parser.add_argument("--rounds", type=int, default=2, help="CPU windows per follower (alternating)")
    parser.add_argument("--rate", type=float, default=10_000, help="lines per second in the busy CPU test")
    parser.add_argument("--refresh", type=float, nargs="+", default=[2.0, 4.0])
    parser.add_argument("--lag", action="store_true", help="also the in-process event-loop lag test")
    parser.add_argument("--users", type=int, default=2000, help="users in the big-aggregate lag test")
    opts = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (shared)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for refresh in opts.refresh:
            lat = latency(tmp, refresh, opts.samples)
            print(f"append-to-screen at <= 10 lines/s, --refresh {refresh:g} (n={opts.samples} each): "
                  f"tokentop {summary(lat['tokentop'])}; tail -F {summary(lat['tail'])}")
        for label, rate in (("idle (following, nothing written)", 0.0), (f"{opts.rate:,.0f} lines/s", opts.rate)):
            use = cpu(tmp, opts.seconds, rate, opts.rounds)
            print(f"CPU {label}, % of one core per {opts.seconds:g} s window: "
                  f"tokentop {', '.join(f'{v:.1f}' for v in use['tokentop'])} (median "
                  f"{statistics.median(use['tokentop']):.1f}); tail -F {', '.join(f'{v:.1f}' for v in use['tail'])}")
    if opts.lag:
        keys, lags = loop_lag(opts.users, 200_000)
        print(f"event-loop lag with {keys:,} keys / 200,000 events in the last hour (in-process):"
              f" median {statistics.median(lags):.1f} ms, p99 {pct(lags, 0.99):.1f} ms, max {max(lags):.1f} ms")


if __name__ == "__main__":
    main()
