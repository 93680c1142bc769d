"""Claude Code transcript tree: tokentop's normalisation vs a bare orjson parse of every line.

    PYTHONPATH=src python benchmarks/claude_tree.py [--lines 1000000] [--dir /tmp/tt-claude-tree] [--runs 3]

Generates (once, deterministic) a realistic ``projects/`` tree: sessions of user prompts and tool
results (~1.5 KB lines, no usage), hook/progress lines, assistant responses written as 1-4 lines
sharing message.id (early lines carry an intermediate output count), resumed sessions that copy an
earlier session, sidechain replays, lines without requestId, and synthetic API-error lines. Then, each
variant in its own process (peak RSS from getrusage):

* ``bare``: read every file in 1 MiB chunks, split lines, ``orjson.loads`` every line;
* ``tokentop``: the same reading through ``LineDecoder.decode_chunk`` (as the JSONL follower reads)
  with the forced ``claude_code`` format, which cuts out only the lines holding ``"usage"`` and
  parses those with a typed decoder, applying retractions to simple per-model sums (the aggregator
  is measured elsewhere). Lines/s of both are the lines the bare parse counted: tokentop has no
  need to count the lines it skips.

It prints lines/s, the ratio (target: tokentop >= 1.0x bare) and peak memory (target < 100 MiB), and
checks the per-model totals after dedupe against the generator's own ground truth.

Then, whole processes (issue #12's targets, alternating; ``--skip-whole`` leaves them out):

* ``bare process``: ``python -c`` the same bare parse -- interpreter start and imports included;
* ``snapshot wN``: ``tokentop snapshot --json --no-checkpoint --workers N claude:DIR`` (N = 1, 2: the
  aggregator included, the history shared by N worker processes); its per-model totals are checked
  against the truth. Peak RSS: the process and its workers together (sampled sum).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

MODELS = ("claude-sonnet-4-20250514", "claude-opus-4-1-20250805", "claude-3-5-haiku-20241022")
CHUNK = 1 << 20


def _pad(rng: random.Random, size: int) -> str:
    words = ("the", "test", "function", "returns", "value", "file", "error", "import", "class", "data")
    return " ".join(rng.choice(words) for _ in range(size // 6))


def generate_tree(root: Path, lines: int, seed: int = 7) -> dict[str, dict[str, int]]:
    """Write the tree; return per-model truth {model: {requests, prompt, completion, cached, write}}."""
    rng = random.Random(seed)
    truth: dict[str, dict[str, int]] = {}
    written = 0
    finished: list[list[list[str]]] = []  # earlier sessions' turns, for resumed-session copies
    project = 0
    while written < lines:
        project_dir = root / f"-home-dev-project{project % 25}"
        project_dir.mkdir(parents=True, exist_ok=True)
        project += 1
        session = str(uuid.UUID(int=rng.getrandbits(128)))
        out: list[str] = []
        if finished and rng.random() < 0.2:  # a resumed session starts with a copy of an earlier one
            for copied in rng.choice(finished)[: rng.randint(5, 60)]:
                out += copied
        turns = [_turn(rng, session, truth) for _ in range(rng.randint(20, 120))]
        for turn in turns:
            out += turn
        path = project_dir / f"{session}.jsonl"
        if rng.random() < 0.1:  # a subagent file below the session folder
            path = project_dir / session / "subagents" / f"agent-{rng.getrandbits(32):08x}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(out) + "\n", encoding="utf-8")
        written += len(out)
        finished.append(turns)
        if len(finished) > 50:
            finished.pop(0)
    return truth


def _turn(rng: random.Random, session: str, truth: dict[str, dict[str, int]]) -> list[str]:
    base = {"parentUuid": str(uuid.UUID(int=rng.getrandbits(128))), "isSidechain": False, "userType": "external",
            "cwd": "/home/dev/project", "sessionId": session, "version": "1.0.98", "gitBranch": "main"}
    ts = f"2025-09-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00.000Z"
    out = [json.dumps({**base, "type": "user", "uuid": str(uuid.UUID(int=rng.getrandbits(128))), "timestamp": ts,
                       "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x",
                                                                "content": _pad(rng, rng.randint(1200, 2400))}]}})]
    out += [json.dumps({**base, "type": "system", "subtype": "hook", "content": _pad(rng, rng.randint(600, 1400)),
                        "uuid": str(uuid.UUID(int=rng.getrandbits(128))), "timestamp": ts})
            for _ in range(rng.randint(1, 4))]  # hook / progress lines
    model = rng.choice(MODELS)
    msg_id = f"msg_{rng.getrandbits(96):024x}"
    request_id = None if rng.random() < 0.05 else f"req_{rng.getrandbits(96):024x}"
    synthetic = rng.random() < 0.01
    final = {"input_tokens": rng.randint(1, 50), "cache_creation_input_tokens": rng.randint(0, 5000),
             "cache_read_input_tokens": rng.randint(0, 150_000), "output_tokens": rng.randint(20, 4000),
             "service_tier": "standard"}
    if synthetic:
        model = "<synthetic>"
        final = {k: 0 for k in ("input_tokens", "output_tokens", "cache_creation_input_tokens",
                                "cache_read_input_tokens")}
    blocks = rng.randint(1, 3)
    for n in range(blocks):
        usage = dict(final)
        if n < blocks - 1 and not synthetic:
            usage["output_tokens"] = rng.randint(1, 12)  # an intermediate snapshot
        line = {**base, "type": "assistant", "uuid": str(uuid.UUID(int=rng.getrandbits(128))), "timestamp": ts,
                "message": {"id": msg_id, "type": "message", "role": "assistant", "model": model,
                            "content": [{"type": "text", "text": _pad(rng, rng.randint(100, 1500))}],
                            "stop_reason": None, "stop_sequence": None, "usage": usage}}
        if request_id:
            line["requestId"] = request_id
        if synthetic:
            line["isApiErrorMessage"] = True
        out.append(json.dumps(line))
    if rng.random() < 0.02:  # a /btw sidechain replay of this response
        out.append(json.dumps({**json.loads(out[-1]), "isSidechain": True,
                               "requestId": f"req_{rng.getrandbits(96):024x}"}))
    key = "unknown" if synthetic else model
    cell = truth.setdefault(key, {"requests": 0, "prompt": 0, "completion": 0, "cached": 0, "write": 0})
    cell["requests"] += 1
    if not synthetic:
        cell["prompt"] += final["input_tokens"] + final["cache_creation_input_tokens"] + final["cache_read_input_tokens"]
        cell["completion"] += final["output_tokens"]
        cell["cached"] += final["cache_read_input_tokens"]
        cell["write"] += final["cache_creation_input_tokens"]
    return out


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.jsonl"))


def run_bare(root: Path) -> dict:
    import orjson

    loads, count = orjson.loads, 0
    for path in _files(root):
        rest = b""
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                parts = (rest + chunk).split(b"\n")
                rest = parts.pop()
                for line in parts:
                    if line:
                        loads(line)
                        count += 1
    return {"lines": count}


def run_tokentop(root: Path) -> dict:
    from tokentop.core.lines import LineDecoder
    from tokentop.core.normalise import NormaliseOptions, Normaliser
    from tokentop.core.pricing import shipped_table

    skips: list = []
    decoder = LineDecoder(Normaliser(NormaliseOptions(source="claude", format="claude_code"),
                                     cost_of=shipped_table().cost), skips.append)
    totals: dict[str, dict[str, int]] = {}

    def tally(events: list, sign: int) -> None:
        for e in events:
            t = totals.setdefault(e.model, {"requests": 0, "prompt": 0, "completion": 0, "cached": 0, "write": 0})
            t["requests"] += sign
            t["prompt"] += sign * e.prompt_tokens
            t["completion"] += sign * e.completion_tokens
            t["cached"] += sign * e.cached_tokens
            t["write"] += sign * e.cache_write_tokens

    for path in _files(root):
        rest = b""
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                events, rest = decoder.decode_chunk(rest + chunk, time.time())
                tally(events, 1)
                tally(decoder.take_retractions(), -1)
    return {"skips": len(skips), "totals": totals}


def _peak_rss_mib() -> float:
    """This process's peak RSS. (getrusage's ru_maxrss would include the parent's peak: Linux keeps
    the high-water mark across fork + exec.)"""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(variant: str, root: Path) -> dict:
    import orjson  # noqa: F401 - imports are not what is measured
    if variant == "tokentop":
        import tokentop.core.lines
        import tokentop.core.pricing

        tokentop.core.pricing.shipped_table()
    start = time.perf_counter()
    result = (run_bare if variant == "bare" else run_tokentop)(root)
    result["seconds"] = time.perf_counter() - start
    result["peak_mib"] = _peak_rss_mib()
    return result


def _snapshot_totals(out: Path) -> dict[str, dict[str, int]]:
    """Per-model totals of a snapshot, as the generator keeps its truth."""
    doc = json.loads(out.read_text())
    return {entry["model"]: {"requests": entry["requests"], "prompt": entry["prompt_tokens"],
                             "completion": entry["completion_tokens"], "cached": entry["cached_tokens"],
                             "write": entry["cache_write_tokens"]} for entry in doc["by_model"].values()}


def whole_processes(projects: Path, truth: dict, runs: int) -> None:
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from wholeproc import bare_command, timed, tokentop

    results: dict[str, list[dict]] = {"bare process": [], "snapshot w1": [], "snapshot w2": []}
    with tempfile.TemporaryDirectory(prefix="tt-claude-") as tmp:
        for run in range(runs):  # alternate
            for name in results:
                out = Path(tmp) / f"{name.replace(' ', '-')}-{run}.json"
                if name == "bare process":
                    result = timed(bare_command("orjson", [str(p) for p in _files(projects)]), out)
                else:
                    result = timed(tokentop("snapshot", "--json", "--no-checkpoint", "--workers", name[-1],
                                            f"claude:{projects}"), out)
                    result["exact"] = _snapshot_totals(out) == truth
                results[name].append(result)
                print(f"  {name:13} {result['seconds']:6.2f} s  peak {result['peak_mib']:6.1f} MiB"
                      + (f"  totals = truth: {result['exact']}" if "exact" in result else ""), flush=True)
    bare = results["bare process"]
    print(f"whole processes (medians of {runs}, alternating; load {os.getloadavg()[0]:.1f}):")
    print(f"  bare process  {statistics.median(r['seconds'] for r in bare):6.2f} s")
    for name in ("snapshot w1", "snapshot w2"):
        rows = results[name]
        ratio = statistics.median(b["seconds"] / r["seconds"] for b, r in zip(bare, rows))
        print(f"  {name:13} {statistics.median(r['seconds'] for r in rows):6.2f} s  {ratio:.2f}x the bare process "
              f"(paired; >= 1.0 is the target)  peak {max(r['peak_mib'] for r in rows):5.1f} MiB  "
              f"totals = truth: {all(r['exact'] for r in rows)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/tt-claude-tree"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", choices=("bare", "tokentop"))
    parser.add_argument("--skip-whole", action="store_true", help="leave out the whole-process runs")
    parser.add_argument("--only-whole", action="store_true", help="only the whole-process runs")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.dir / "projects")))
        return
    truth_file = args.dir / f"truth-{args.lines}.json"
    if not truth_file.exists():
        t0 = time.perf_counter()
        truth = generate_tree(args.dir / "projects", args.lines)
        truth_file.write_text(json.dumps(truth))
        print(f"generated {args.dir} in {time.perf_counter() - t0:.0f}s")
    truth = json.loads(truth_file.read_text())
    if args.only_whole:
        whole_processes(args.dir / "projects", truth, args.runs)
        return
    size = sum(p.stat().st_size for p in _files(args.dir / "projects"))
    results: dict[str, list[dict]] = {"bare": [], "tokentop": []}
    for _ in range(args.runs):  # alternate, each in a fresh process
        for variant in results:
            out = subprocess.run([sys.executable, __file__, "--child", variant, "--dir", str(args.dir)],
                                 capture_output=True, text=True, check=True, env=os.environ)
            results[variant].append(json.loads(out.stdout))
    lines = results["bare"][0]["lines"]
    with_usage = sum(line.count(b'"usage"') for p in _files(args.dir / "projects") for line in [p.read_bytes()])
    print(f"tree: {lines:,} lines ({with_usage / lines:.0%} with usage), {size / 2**20:.0f} MiB "
          f"({size / lines:.0f} B/line), {len(_files(args.dir / 'projects'))} files")
    for variant, runs in results.items():
        secs = statistics.median(r["seconds"] for r in runs)
        print(f"{variant:9s} median {secs:6.2f}s  {lines / secs / 1e3:7.0f} k lines/s  "
              f"peak RSS {max(r['peak_mib'] for r in runs):5.1f} MiB")
    ratios = [b["seconds"] / t["seconds"] for b, t in zip(results["bare"], results["tokentop"])]
    print(f"tokentop speed vs bare parse: {statistics.median(ratios):.2f}x (paired per run; >= 1.0 is the target)")
    got = results["tokentop"][0]["totals"]
    print("per-model totals after dedupe match the generator's truth:", got == truth)
    if got != truth:
        print(json.dumps({"expected": truth, "got": got}, indent=1))
        sys.exit(1)
    if not args.skip_whole:
        whole_processes(args.dir / "projects", truth, args.runs)


if __name__ == "__main__":
    main()
