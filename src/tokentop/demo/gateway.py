"""The simulated gateway: generated traffic written through the real paths, in a temp dir it removes.

A pump thread turns simulated time into requests (``traffic``) and hands each to the three writers:
an appended JSONL gateway log, the SQLite ledger (its own thread and connection) and the counters
behind the HTTP usage endpoint. :meth:`Gateway.close` stops and joins everything and removes the
directory; it is idempotent and also registered with ``atexit``.

``python -m tokentop.demo.gateway [--speed N]`` runs the gateway alone (printing where it writes) until
interrupted, for pointing tokentop at it by hand.
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from tokentop.demo.clock import SimClock
from tokentop.demo.counters import CounterStore
from tokentop.demo.endpoint_server import UsageEndpoint
from tokentop.demo.ledger_writer import LedgerWriter
from tokentop.demo.records import iso_ms, ledger_row, log_line
from tokentop.demo.scenario import SCHEDULE, simulated_start
from tokentop.demo.traffic import HISTORY, Request, TrafficGenerator

TICK = 0.05
"""Real seconds between pump rounds."""


class Gateway:
    """Start with :meth:`start` (or ``with Gateway(...) as gw``); always :meth:`close`."""

    def __init__(self, speed: float = 1.0, seed: int = 7, start: float | None = None, tick: float = TICK,
                 history: float = HISTORY) -> None:
        self.clock = SimClock(simulated_start(time.time()) if start is None else start, speed)
        self.traffic = TrafficGenerator(self.clock.start, seed, history=history)
        self.store = CounterStore(self.clock.start)
        self.tick = tick
        self.dir = Path(tempfile.mkdtemp(prefix="tokentop-demo-"))
        self.log_path = self.dir / "gateway.jsonl"
        self.ledger_path = self.dir / "ledger.db"
        self.written: Counter[str] = Counter()
        """Requests per sink: ``log``, ``ledger``, ``counters``."""
        self.phase_counts: dict[str, Counter[str]] = {p.id: Counter() for p in SCHEDULE}
        self.error: str | None = None
        self._stop = threading.Event()
        self._closed = False
        self._log = None
        self._ledger: LedgerWriter | None = None
        self._endpoint: UsageEndpoint | None = None
        self._pump: threading.Thread | None = None
        atexit.register(self.close)

    @property
    def endpoint_url(self) -> str:
        assert self._endpoint is not None, "gateway not started"
        return self._endpoint.base_url

    def start(self) -> Gateway:
        try:
            self._log = open(self.log_path, "ab", buffering=0)  # noqa: SIM115 - closed in close()
            self._ledger = LedgerWriter(self.ledger_path)
            self._endpoint = UsageEndpoint(self.store, self.clock)
            self.pump(history=True)
            self._pump = threading.Thread(target=self._run, name="demo-pump", daemon=True)
            self._pump.start()
        except BaseException:
            self.close()
            raise
        return self

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.tick):
                self.pump()
        except Exception as exc:  # noqa: BLE001 - shown in the demo's output, never swallowed
            self.error = f"{type(exc).__name__}: {exc}"

    def pump(self, history: bool = False) -> list[Request]:
        """Write every request due by now (called by the pump thread). ``history``: the traffic before
        the demo's start, written at once (the ledger gets it in one transaction)."""
        requests = self.traffic.until(self.clock.start if history else self.clock())
        if not requests or self._log is None or self._ledger is None:
            return requests
        self._log.write(b"".join(log_line(r) for r in requests))  # whole lines, one append
        rows = []
        for r in requests:
            row = ledger_row(r)
            if row is not None:
                if history:
                    rows.append(row)
                else:
                    self._ledger.put(row)
            sinks = {"log": 1, "ledger": int(row is not None), "counters": int(self.store.record(r))}
            self.written.update(sinks)
            for fault in r.faults:
                self.phase_counts[fault].update(sinks)
        self._ledger.put_many(rows)
        return requests

    def summary(self) -> dict[str, Any]:
        """What the gateway wrote, per sink and per scripted phase (for the headless output)."""
        return {
            "speed": self.clock.speed,
            "simulated_start": iso_ms(self.clock.start),
            "simulated_now": iso_ms(self.clock()),
            "requests": self.traffic.count,
            "written": dict(self.written),
            "ledger_errors": None if self._ledger is None else self._ledger.error,
            "phases": {pid: dict(c) for pid, c in self.phase_counts.items()},
            "error": self.error,
        }

    def stop_traffic(self) -> None:
        """Stop generating requests (the files and the endpoint stay until :meth:`close`)."""
        self._stop.set()
        if self._pump is not None:
            self._pump.join(timeout=10)

    def close(self) -> None:
        """Stop the pump, drain and close the writers, stop the server, remove the directory."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop_traffic()
            if self._ledger is not None:
                self._ledger.close()
            if self._endpoint is not None:
                self._endpoint.close()
            if self._log is not None:
                self._log.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            atexit.unregister(self.close)


def raise_on_sigterm() -> None:
    """Turn SIGTERM (and SIGHUP) into SystemExit in the main thread, so ``finally`` blocks clean up."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tokentop.demo.gateway", description=__doc__)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    raise_on_sigterm()
    gateway = Gateway(speed=args.speed, seed=args.seed)
    try:
        gateway.start()
        info = {"dir": str(gateway.dir), "log": str(gateway.log_path), "ledger": f"sqlite:///{gateway.ledger_path}",
                "endpoint": gateway.endpoint_url}
        sys.stdout.write(orjson.dumps(info).decode() + "\n")
        sys.stdout.flush()
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 130
    finally:
        gateway.close()


if __name__ == "__main__":
    raise SystemExit(main())
