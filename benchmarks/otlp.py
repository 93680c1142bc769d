"""Fleet telemetry targets, measured whole-process (``tokentop serve`` in its own process):

1. ``ingest``: OTLP/HTTP protobuf ingest, batches of 512 GenAI spans (every span unique), sent back to
   back on one keep-alive connection; spans/s accepted and the server's CPU time (one event loop: at
   most one core). On a shared machine the wall rate depends on what else runs; spans per CPU-second
   of the server process is what one core sustains. Alternates with a bare baseline: an h11 server that only parses each body
   (``ExportTraceServiceRequest.ParseFromString``) and answers 200. Target: >= 20,000 spans/s.
2. ``scrape``: ``GET /metrics`` with ~10,000 series (a JSONL file of 900 models x 1,000 users read by
   ``serve`` with ``top_models``/``top_users`` raised, its view rebuilt every second meanwhile),
   alternating with prometheus_client's own server exposing the same families. Target: <= 50 ms.
3. ``latency``: span -> screen in the live app (headless, 160x48, 4 Hz): one span exported every
   0.2-0.4 s by the real SDK exporter; from just before the export to the panels showing it. The
   export's own round trip is printed beside it. Target: p99 <= 250 ms.
4. ``memory``: RSS of ``serve`` under a steady OTLP load (unique spans) for ``--minutes``.

    PYTHONPATH=$PWD/src python benchmarks/otlp.py ingest --runs 3 --seconds 5
    PYTHONPATH=$PWD/src python benchmarks/otlp.py scrape --runs 30
    PYTHONPATH=$PWD/src python benchmarks/otlp.py latency --samples 60
    PYTHONPATH=$PWD/src python benchmarks/otlp.py memory --minutes 10 --rate 2000
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
BATCH = 512

BARE = r"""
import asyncio, sys, h11
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse
OK = ExportTraceServiceResponse().SerializeToString()
async def serve(reader, writer):
    conn = h11.Connection(h11.SERVER)
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(65536)
            conn.receive_data(data)
            if not data and conn.their_state is h11.IDLE:
                break
            continue
        if isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            ExportTraceServiceRequest.FromString(bytes(body))
            body.clear()
            writer.write(conn.send(h11.Response(status_code=200, headers=[("content-type", "application/x-protobuf"),
                                                                       ("content-length", str(len(OK)))]))
                         + conn.send(h11.Data(data=OK)) + conn.send(h11.EndOfMessage()))
            await writer.drain()
            conn.start_next_cycle()
        elif isinstance(event, h11.ConnectionClosed):
            break
    writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""

PROM_BARE = r"""
import sys, time
from prometheus_client import start_http_server
from prometheus_client.core import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(open(sys.argv[2]).read()))
class Fixed:  # the same families every scrape: prometheus_client renders them per scrape, as it does
    def collect(self):
        return families
REGISTRY.register(Fixed())
start_http_server(int(sys.argv[1]), addr="127.0.0.1")
print("ready", flush=True)
time.sleep(3600)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited"
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


def serve(sources: list[str], metrics: int, config: Path | None = None) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "tokentop", "serve", *sources, "--metrics", f"127.0.0.1:{metrics}", "--interval", "1"]
    if config is not None:
        cmd += ["--config", str(config)]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=config.parent if config else None)
    wait_ready(f"http://127.0.0.1:{metrics}/healthz", proc)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- 1. ingest -------------------------------------------------------------------------------------------

def make_batches(count: int, seed: int) -> list[bytes]:
    """``count`` export requests of 512 GenAI chat spans each, every span id unique."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue

    def kv(key: str, value: object) -> KeyValue:
        item = KeyValue(key=key)
        if isinstance(value, int):
            item.value.int_value = value
        else:
            item.value.string_value = str(value)
        return item

    rng = random.Random(seed)
    now = time.time_ns()
    out = []
    for b in range(count):
        request = ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.attributes.extend([kv("service.name", f"svc-{b % 8}")])
        spans = rs.scope_spans.add().spans
        for i in range(BATCH):
            span = spans.add()
            span.trace_id = rng.randbytes(16)
            span.span_id = rng.randbytes(8)
            span.name, span.kind = "chat gpt-4o", 3
            span.start_time_unix_nano, span.end_time_unix_nano = now, now + 800_000_000
            span.attributes.extend([
                kv("gen_ai.operation.name", "chat"), kv("gen_ai.provider.name", "openai"),
                kv("gen_ai.request.model", f"gpt-4o-{i % 20}"), kv("gen_ai.response.id", f"r{b}-{i}"),
                kv("gen_ai.usage.input_tokens", 1000 + i), kv("gen_ai.usage.output_tokens", 50),
                kv("gen_ai.usage.cache_read.input_tokens", 512), kv("user.id", f"user-{i % 200}"),
            ])
        out.append(request.SerializeToString())
    return out


def push(port: int, batches: list[bytes], seconds: float) -> tuple[int, float]:
    """Send batches back to back for ``seconds``; (spans accepted, wall seconds)."""
    sent, start = 0, time.perf_counter()
    with httpx.Client(headers={"content-type": "application/x-protobuf"}, timeout=30) as client:
        for body in batches:
            answer = client.post(f"http://127.0.0.1:{port}/v1/traces", content=body)
            assert answer.status_code == 200, answer.status_code
            sent += BATCH
            if time.perf_counter() - start >= seconds:
                break
    return sent, time.perf_counter() - start


def ingest(runs: int, seconds: float) -> None:
    batches = make_batches(int(seconds * 60_000 / BATCH) + 1, seed=1)
    print(f"{len(batches)} batches of {BATCH} spans ready ({sum(map(len, batches)) / len(batches) / 1024:.0f} KiB each)")
    figures: dict[str, list[tuple[float, float]]] = {"tokentop": [], "bare": []}
    for run in range(runs):
        for who in ("tokentop", "bare"):
            port = free_port()
            if who == "tokentop":
                proc = serve([f"otlp://127.0.0.1:{port}"], free_port())
            else:
                proc = subprocess.Popen([sys.executable, "-c", BARE, str(port)], env=ENV, stdout=subprocess.PIPE)
                assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
            cpu0 = cpu_seconds(proc.pid)
            spans, wall = push(port, batches, seconds)
            cpu = cpu_seconds(proc.pid) - cpu0
            stop(proc)
            figures[who].append((spans / wall, 100 * cpu / wall, spans / cpu))
            print(f"  run {run + 1} {who:8}: {spans / wall:9,.0f} spans/s, server CPU {100 * cpu / wall:5.1f} % of a core,"
                  f" {spans / cpu:9,.0f} spans per server CPU-second")
    for who, values in figures.items():
        print(f"{who:8} median {statistics.median(v[0] for v in values):9,.0f} spans/s wall, "
              f"{statistics.median(v[2] for v in values):9,.0f} spans per CPU-second "
              f"(server CPU {statistics.median(v[1] for v in values):.0f} %)")


# -- 2. scrape -------------------------------------------------------------------------------------------

def scrape(runs: int, models: int, users: int) -> None:
    import orjson

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "usage.jsonl"
        now = time.time()
        with log.open("wb") as out:
            for i in range(max(models, users) * 2):
                out.write(orjson.dumps({"ts": now - 60, "request_id": f"r{i}", "user": f"user-{i % users}",
                                        "provider": "openai", "model": f"model-{i % models}",
                                        "prompt_tokens": 100 + i, "completion_tokens": 10}) + b"\n")
        config = Path(tmp) / "tokentop.toml"
        config.write_text(f'[metrics]\ntop_models = {models}\ntop_users = {users}\n'
                          f'[sources.log]\nkind = "jsonl"\npath = "{log}"\nstart = "beginning"\n')
        port = free_port()
        proc = serve([], port, config)
        try:
            time.sleep(3)  # read the file, publish a view
            text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
            (Path(tmp) / "metrics.txt").write_text(text)
            bare_port = free_port()
            bare = subprocess.Popen([sys.executable, "-c", PROM_BARE, str(bare_port), str(Path(tmp) / "metrics.txt")],
                                    env=ENV, stdout=subprocess.PIPE)
            assert bare.stdout is not None and bare.stdout.readline() == b"ready\n"
            print(f"{series:,} series, {len(text) / 1024:.0f} KiB")
            ours, baseline = [], []
            with httpx.Client() as client:
                for _ in range(runs):  # alternately; serve rebuilds its view every second meanwhile
                    for into, at in ((ours, port), (baseline, bare_port)):
                        time.sleep(random.uniform(0.1, 0.4))
                        start = time.perf_counter()
                        assert client.get(f"http://127.0.0.1:{at}/metrics").status_code == 200
                        into.append(1000 * (time.perf_counter() - start))
            stop(bare)
        finally:
            stop(proc)
    for who, values in (("tokentop serve", ours), ("prometheus_client's server", baseline)):
        q = sorted(values)
        print(f"{who:27}: n={len(q)} median {statistics.median(q):.1f} ms, p90 {q[int(0.9 * len(q))]:.1f} ms, "
              f"max {q[-1]:.1f} ms")


# -- 3. span -> screen ---------------------------------------------------------------------------------

def latency(samples: int) -> None:
    import asyncio

    sys.path.insert(0, str(ROOT / "tests" / "sources"))
    from otlp_support import exporter, make_spans

    from tokentop.config import Config
    from tokentop.sources.otlp import make_source
    from tokentop.ui.app import TokentopApp

    class TimedApp(TokentopApp):
        shown_at: dict[str, float] = {}

        def _show_panels(self, snap):  # noqa: ANN001, ANN202
            super()._show_panels(snap)
            now = time.time()
            for e in snap.recent:
                if e.request_id and e.request_id not in self.shown_at:
                    self.shown_at[e.request_id] = now

    async def run() -> tuple[list[float], list[float]]:
        source = make_source("otlp", {"listen": "127.0.0.1:0"}, Config())
        app = TimedApp([source], refresh_hz=4)
        trips: list[float] = []
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.pause(1.0)
            exp = exporter(f"http://127.0.0.1:{source.port}")
            for i in range(samples):
                await pilot.pause(random.uniform(0.2, 0.4))
                sent = time.time()
                spans = make_spans([{"attrs": {"gen_ai.response.id": f"w{sent:.6f}", "gen_ai.usage.input_tokens": i,
                                               "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"}}])
                await asyncio.to_thread(exp.export, spans)
                trips.append(1000 * (time.time() - sent))
            await pilot.pause(1.5)
        lat = [(shown - float(rid[1:])) * 1000 for rid, shown in app.shown_at.items() if rid.startswith("w")]
        return lat, trips

    lat, trips = asyncio.run(run())
    q = sorted(lat)
    print(f"span -> screen at 4 Hz: n={len(lat)} median {statistics.median(lat):.0f} ms, "
          f"p99 {q[min(len(q) - 1, int(0.99 * len(q)))]:.0f} ms, max {max(lat):.0f} ms "
          f"(the export's own round trip: median {statistics.median(trips):.0f} ms)")


# -- 4. memory -------------------------------------------------------------------------------------------

def memory(minutes: float, rate: int) -> None:
    port = free_port()
    proc = serve([f"otlp://127.0.0.1:{port}"], free_port())
    pool = make_batches(64, seed=2)
    try:
        start, sent, samples, seed = time.monotonic(), 0, [], 3
        next_sample = start
        with httpx.Client(headers={"content-type": "application/x-protobuf"}, timeout=30) as client:
            while time.monotonic() - start < minutes * 60:
                if not pool:
                    pool = make_batches(64, seed=seed)  # fresh unique spans (ids never repeat)
                    seed += 1
                assert client.post(f"http://127.0.0.1:{port}/v1/traces", content=pool.pop()).status_code == 200
                sent += BATCH
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
                if time.monotonic() >= next_sample:
                    samples.append((time.monotonic() - start, rss_mib(proc.pid)))
                    print(f"  {samples[-1][0]:6.0f} s: {sent:>10,} spans, RSS {samples[-1][1]:6.1f} MiB", flush=True)
                    next_sample += 30
    finally:
        stop(proc)
    print(f"RSS first {samples[0][1]:.1f} MiB, after 1 min {next(r for t, r in samples if t >= 60):.1f} MiB, "
          f"last {samples[-1][1]:.1f} MiB, max {max(r for _, r in samples):.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("ingest", "scrape", "latency", "memory"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--models", type=int, default=900)
    parser.add_argument("--users", type=int, default=1000)
    opts = parser.parse_args()
    if opts.what == "ingest":
        ingest(opts.runs, opts.seconds)
    elif opts.what == "scrape":
        scrape(opts.runs, opts.models, opts.users)
    elif opts.what == "latency":
        latency(opts.samples)
    else:
        memory(opts.minutes, opts.rate)


if __name__ == "__main__":
    main()
