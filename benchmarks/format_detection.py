"""Cost of per-record format detection on the ingest hot path.

    PYTHONPATH=src python benchmarks/format_detection.py [--lines 200000] [--runs 5]

Normalises the same app-shaped records (the hand-made gateway log shape of perf-limits.md) through
``LineDecoder`` twice: with auto-detection (every provider format's ``detect`` is tried first) and with
``format="app"`` forced. Target: auto-detection costs at most 20% (ratio forced/auto >= 0.83). Also
reports a mixed file (every provider fixture interleaved with app records) for scale. Medians of
``--runs`` passes, alternating variants, in one process after a warm-up.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

import orjson

from tokentop.core.lines import LineDecoder
from tokentop.core.normalise import NormaliseOptions, Normaliser
from tokentop.core.pricing import shipped_table

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "formats" / "fixtures"
PROVIDERS = (("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-20250514"), ("gemini", "gemini-2.5-flash"),
             ("openrouter", "meta-llama/llama-3.3-70b-instruct"), ("deepseek", "deepseek-chat"),
             ("groq", "llama-3.3-70b-versatile"))


def app_lines(n: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        provider, model = rng.choice(PROVIDERS)
        prompt, completion = int(rng.lognormvariate(6.7, 1.0)), int(rng.lognormvariate(5.5, 0.8))
        out.append(orjson.dumps({
            "timestamp": f"2026-03-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
            "request_id": f"req_{i:08d}", "user": f"user_{rng.randrange(1000):04d}", "provider": provider,
            "model": model, "prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion, "token_source": "actual" if rng.random() < 0.9 else "estimated",
            "latency_ms": rng.randint(200, 9000), "status": "success", "http_status": 200,
            "cost_usd": round(rng.random() / 100, 6)}))
    return out


def mixed_lines(n: int) -> list[bytes]:
    provider = [line for f in sorted(FIXTURES.glob("*.jsonl")) for line in f.read_bytes().splitlines() if line]
    app = app_lines(n)
    return [provider[i % len(provider)] if i % 2 else app[i] for i in range(n)]


def rate(lines: list[bytes], fmt: str | None) -> float:
    decoder = LineDecoder(Normaliser(NormaliseOptions(source="bench", format=fmt), cost_of=shipped_table().cost),
                          lambda problem: None)
    start = time.perf_counter()
    for i in range(0, len(lines), 4096):  # deliveries as a follower makes them
        decoder.decode(lines[i:i + 4096], 0.0)
        decoder.take_retractions()
    return len(lines) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    app, mixed = app_lines(args.lines), mixed_lines(args.lines)
    rate(app[:20_000], None), rate(app[:20_000], "app")  # warm-up
    auto, forced, mix, ratios = [], [], [], []
    for _ in range(args.runs):
        a, f = rate(app, None), rate(app, "app")
        auto.append(a)
        forced.append(f)
        ratios.append(a / f)
        mix.append(rate(mixed, None))
    print(f"app records, auto-detect : {statistics.median(auto) / 1e3:7.1f} k lines/s")
    print(f"app records, format=app  : {statistics.median(forced) / 1e3:7.1f} k lines/s")
    print(f"auto / forced (paired)   : {statistics.median(ratios):.3f}  (target >= 0.83, i.e. <= 20% slower)")
    print(f"mixed file, auto-detect  : {statistics.median(mix) / 1e3:7.1f} k lines/s (half provider fixtures)")


if __name__ == "__main__":
    main()
