"""Limits benchmark: whole-process peak memory when what is read is hostile in size, not in shape.

Each case runs tokentop and its baseline alternately, each in its own process (peak RSS of that
process and its worker processes together), cold (``--no-checkpoint``: nothing resumed, nothing
saved), and prints medians:

* ``users``: ``snapshot`` of N lines naming N distinct users (target: <= 200 MiB peak for 1M), against
  the same N lines naming 100 users;
* ``models``: the same with N distinct models;
* ``tail``: ``tail --from-start`` over the N distinct models (its per-name state), against 100 models;
* ``body``: ``snapshot`` of a usage endpoint answering with a 1 GB body, against a normal answer.

    PYTHONPATH=src python benchmarks/limits.py [--lines N] [--runs R] [--case users,models,tail,body]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "sources"))
from fuzz import run  # noqa: E402  (one measured process: wall time, its own peak RSS)

T0 = 1_780_000_000.0


def corpus(kind: str, lines: int, distinct: bool) -> Path:
    """N lines; users or models distinct per line (``distinct``) or from 100 names."""
    path = HERE / ".data" / f"limits-{kind}-{'distinct' if distinct else 'few'}-{lines}.jsonl"
    if path.exists():
        return path
    path.parent.mkdir(exist_ok=True)
    with open(path, "wb") as out:
        for start in range(0, lines, 10_000):
            chunk = []
            for i in range(start, min(lines, start + 10_000)):
                name = i if distinct else i % 100
                chunk.append(orjson.dumps({
                    "ts": T0 + i * 0.05, "request_id": f"r{i}", "provider": "openai",
                    "user": f"user_{name:07d}" if kind == "users" else f"user_{i % 100}",
                    "model": f"model-{name:07d}" if kind == "models" else "gpt-4o",
                    "prompt_tokens": 100, "completion_tokens": 20}))
            out.write(b"\n".join(chunk) + b"\n")
    return path


def endpoint(body_bytes: int):  # noqa: ANN201
    from endpoint_server import Reply, UsageServer

    server = UsageServer()
    if body_bytes:
        server.set("/usage", Reply(flood=body_bytes, chunked=True))
    else:
        server.set("/usage", Reply(body={"ok": True, "tokensUsed": 10, "tokenLimit": 100}))
    return server


def measure(name: str, ours: list[str], baseline: list[str], runs: int) -> None:
    results: dict[str, list[tuple[float, float]]] = {"tokentop": [], "baseline": []}
    out_lines: dict[str, set[str]] = {"tokentop": set(), "baseline": set()}
    for _ in range(runs):  # alternately: a busy (shared) machine weighs on both alike
        for label, argv in (("tokentop", ours), ("baseline", baseline)):
            elapsed, rss, result = run(argv, keep=False)
            if result.returncode not in (0, 2) or b"Traceback" in result.stderr:
                print(f"{name} {label}: exit {result.returncode}: {result.stderr[-400:]!r}")
            results[label].append((elapsed, rss))
            out_lines[label].add(result.stdout.decode())
    for label, got in results.items():
        print(f"{name:7} {label:9} peak RSS median {statistics.median(r for _, r in got):7.0f} MiB "
              f"(max {max(r for _, r in got):.0f})   time median {statistics.median(t for t, _ in got):6.1f} s"
              f"   output lines {'/'.join(sorted(out_lines[label]))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--case", default="users,models,tail,body")
    args = parser.parse_args()
    tokentop = [sys.executable, "-m", "tokentop"]
    snapshot = [*tokentop, "snapshot", "--json", "--no-checkpoint"]
    cases = args.case.split(",")
    print(f"{args.lines:,} lines; {args.runs} alternate runs each")
    for kind in ("users", "models"):
        if kind in cases:
            measure(kind, [*snapshot, str(corpus(kind, args.lines, True))],
                    [*snapshot, str(corpus(kind, args.lines, False))], args.runs)
    if "tail" in cases:
        tail = [*tokentop, "tail", "--json", "--from-start", "--exit-idle", "5"]  # (every line printed)
        measure("tail", [*tail, str(corpus("models", args.lines, True))],
                [*tail, str(corpus("models", args.lines, False))], args.runs)
    if "body" in cases:
        flood, normal = endpoint(1 << 30), endpoint(0)
        try:
            measure("body", [*snapshot, f"{flood.base}/usage"], [*snapshot, f"{normal.base}/usage"], args.runs)
        finally:
            flood.close()
            normal.close()


if __name__ == "__main__":
    main()
