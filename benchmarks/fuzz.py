"""Fuzz benchmark: a million mutated lines through the whole ``tokentop snapshot`` command.

The lines are the benchmark gateway log's records (benchmarks/gen_jsonl.py, each with its own request
id), mutated deterministically: a byte flipped, cut or doubled; a number replaced by -1, 1e999, NaN,
2**64 or a 5,000-digit integer; a name replaced by escape sequences, bidi overrides, TAB, markup or
10 KB of text; a key dropped; a BOM, CR, NUL or invalid UTF-8 added; nesting 2,000 deep; blank lines.
``--formats`` mutates the fixture records of every format instead (stream chunks and transcript lines
are absorbed by design there, so only the checks that hold for every format are made).

Checks (the run fails loudly if one does not hold): exit status 0, nothing on stderr, no
traceback; every non-blank line is an event or a counted skip (events + skipped + blank = lines; the
gateway family only); totals non-negative and finite. Figures: lines/s of tokentop and of a bare
``orjson.loads`` per line over the same file, each in its own process, run alternately, and the
peak RSS of each process.

    PYTHONPATH=src python benchmarks/fuzz.py [--lines N] [--runs R] [--formats] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "tests" / "formats" / "fixtures"
sys.path.insert(0, str(HERE))
from wholeproc import TreePeak  # noqa: E402

HOSTILE_NUMBERS = [b"-1", b"1e999", b"NaN", b"-Infinity", b"18446744073709551617", b"1" + b"0" * 5000, b"0.5",
                   b'"12"', b'"-5"', b"null", b"true", b"[]", b"{}", b"-0.0", b"100000001"]
HOSTILE_TEXT = [b'"\\u001b]0;PWNED\\u0007"', b'"\\u202eevil"', b'"a\\tb"', b'"[/]"', b'"=1+1"', b'"\\u0000"',
                b'"' + b"x" * 10_000 + b'"', b'""', b'"\\ud800"', b'"\\u001b[2J"', b"123", b"null"]
BAD_BYTES = [b"\xff", b"\xc3", b"\x00", b"\r", b"\xef\xbb\xbf", b"\x1b", b"\\", b'"', b"{", b"}", b","]


def base_lines(formats: bool, count: int, seed: int) -> Iterator[bytes]:
    """The lines to mutate, one at a time (held all at once, they grew this process to gigabytes:
    and every process forked from it reports that as its own peak)."""
    if formats:
        lines = [line for path in sorted(FIXTURES.glob("*.jsonl")) for line in path.read_bytes().splitlines()]
        return (lines[i % len(lines)] for i in range(count))
    from gen_jsonl import records

    return (orjson.dumps(r) for r in records(count, seed))


def mutate(line: bytes, rng: random.Random) -> list[bytes]:
    """One line mutated (most lines keep their shape and get a hostile value); rarely none or two."""
    roll = rng.random()
    if roll < 0.02:
        return [b""] if rng.random() < 0.5 else [b"   \t "]
    if roll < 0.25:  # a hostile number after a colon
        at = _value_start(line, rng, digits=True)
        if at is not None:
            end = at
            while end < len(line) and line[end:end + 1] not in b",}]":
                end += 1
            return [line[:at] + rng.choice(HOSTILE_NUMBERS) + line[end:]]
    if roll < 0.45:  # a hostile string value
        at = _value_start(line, rng, digits=False)
        if at is not None:
            end = line.find(b'"', at + 1)
            while end > 0 and line[end - 1:end] == b"\\":
                end = line.find(b'"', end + 1)
            if end > 0:
                return [line[:at] + rng.choice(HOSTILE_TEXT) + line[end + 1:]]
    if roll < 0.60:  # bytes flipped, cut or doubled
        data = bytearray(line)
        for _ in range(rng.randint(1, 3)):
            if not data:
                break
            i = rng.randrange(len(data))
            choice = rng.random()
            if choice < 0.4:
                data[i] = rng.randrange(256)
            elif choice < 0.7:
                del data[i:i + rng.randint(1, 20)]
            else:
                data[i:i] = rng.choice(BAD_BYTES)
        return [bytes(data)]
    if roll < 0.65:
        return [line[: rng.randrange(max(len(line), 1))]]  # cut short
    if roll < 0.68:
        return [b"[" * 2000 + line + b"]" * 2000]
    if roll < 0.70:
        return [b"\xef\xbb\xbf" + line]
    if roll < 0.72:
        return [line + b"\r"]
    if roll < 0.73:
        return [line, line.replace(b'"', b"'")]
    return [line]


def _value_start(line: bytes, rng: random.Random, digits: bool) -> int | None:
    colons = [i for i in range(len(line) - 1) if line[i] == 58]  # ':'
    rng.shuffle(colons)
    for i in colons[:6]:
        j = i + 1
        while j < len(line) and line[j] == 32:
            j += 1
        if j < len(line) and ((digits and 48 <= line[j] <= 57 or line[j] == 45) or (not digits and line[j] == 34)):
            return j
    return None


def write_corpus(path: Path, count: int, formats: bool, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    total = blank = 0
    with open(path, "wb") as out:
        chunk: list[bytes] = []
        for line in base_lines(formats, count, seed):
            for mutated in mutate(line, rng):
                mutated = mutated.replace(b"\n", b" ")
                chunk.append(mutated)
                total += 1
                blank += not mutated.strip()
            if len(chunk) >= 10_000:
                out.write(b"\n".join(chunk) + b"\n")
                chunk.clear()
        if chunk:
            out.write(b"\n".join(chunk) + b"\n")
    return {"lines": total, "blank": blank}


BARE = """
import sys, orjson
n = 0
with open(sys.argv[1], "rb") as f:
    while chunk := f.read(1 << 20):
        for line in chunk.split(b"\\n"):
            try:
                orjson.loads(line)
            except orjson.JSONDecodeError:
                pass
            n += 1
"""


def run(argv: list[str], keep: bool = True) -> tuple[float, float, subprocess.CompletedProcess[bytes]]:
    """Wall seconds, peak RSS (MiB) and result of one process. The peak is the larger of the
    process's own (reaped with wait4) and the sum over the process and its children, sampled every
    50 ms (the workers of a parallel read count too). With ``keep`` false its stdout is only counted
    (``result.stdout`` is the line count, as text): held here, a big output would grow this process,
    and every process forked from it after."""
    import threading

    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    streams: dict[str, bytes] = {}

    def drain(name: str, pipe, hold: bool) -> None:  # noqa: ANN001
        kept, lines = [], 0
        while chunk := pipe.read(1 << 20):
            lines += chunk.count(b"\n")
            if hold:
                kept.append(chunk)
        streams[name] = b"".join(kept) if hold else str(lines).encode()

    readers = [threading.Thread(target=drain, args=("out", proc.stdout, keep)),
               threading.Thread(target=drain, args=("err", proc.stderr, True))]
    for reader in readers:
        reader.start()
    with TreePeak(proc.pid) as tree:
        _, status, usage = os.wait4(proc.pid, 0)
    for reader in readers:
        reader.join()
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # (reaped here: keep Popen from waiting for it again)
    peak = max(usage.ru_maxrss / 1024, tree.mib)
    return elapsed, peak, subprocess.CompletedProcess(argv, code, streams["out"], streams["err"])


def check(doc: dict, stats: dict[str, int], result: subprocess.CompletedProcess[bytes], exact: bool) -> list[str]:
    problems = []
    if result.returncode != 0:
        problems.append(f"exit status {result.returncode}")
    if result.stderr.strip():
        problems.append(f"stderr: {result.stderr[-500:]!r}")
    (source,) = doc["sources"]
    seen = source["events"] + source["skipped"] + stats["blank"]
    if exact and seen != stats["lines"]:
        problems.append(f"events {source['events']} + skipped {source['skipped']} + blank {stats['blank']} "
                        f"= {seen} != lines {stats['lines']}")
    for name, value in doc["totals"].items():
        if isinstance(value, (int, float)) and (value < 0 or not math.isfinite(value)):
            problems.append(f"totals.{name} = {value}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--formats", action="store_true", help="mutate every format's fixture records")
    parser.add_argument("--seed", type=int, default=20261207)
    args = parser.parse_args()
    data = HERE / ".data"
    data.mkdir(exist_ok=True)
    corpus = data / f"fuzz-{'formats' if args.formats else 'gateway'}-{args.lines}-{args.seed}.jsonl"
    stats = write_corpus(corpus, args.lines, args.formats, args.seed)
    print(f"{stats['lines']:,} lines ({stats['blank']:,} blank) in {corpus} ({corpus.stat().st_size / 2**20:.0f} MiB)")
    env_python = sys.executable
    ours, bare, problems, doc = [], [], [], {}
    for _ in range(args.runs):  # alternately, so that a busy machine weighs on both alike
        elapsed, rss, result = run([env_python, "-m", "tokentop", "snapshot", "--json", "--no-checkpoint", str(corpus)])
        ours.append((elapsed, rss))
        try:
            doc = json.loads(result.stdout)
        except ValueError:
            problems.append(f"not JSON on stdout (exit {result.returncode}): {result.stderr[-800:]!r}")
            break
        problems += check(doc, stats, result, exact=not args.formats)
        elapsed, rss, _ = run([env_python, "-c", BARE, str(corpus)])
        bare.append((elapsed, rss))
    if doc:
        (source,) = doc["sources"]
        reasons = sorted(source["skip_reasons"].items(), key=lambda kv: -kv[1])
        print(f"events {source['events']:,}  skipped {source['skipped']:,}  absorbed "
              f"{stats['lines'] - stats['blank'] - source['events'] - source['skipped']:,}")
        print("skip reasons: " + ", ".join(f"{k} {v:,}" for k, v in reasons))
    if ours and bare:
        t_ours, t_bare = statistics.median(t for t, _ in ours), statistics.median(t for t, _ in bare)
        print(f"tokentop snapshot: median {t_ours:.1f} s ({stats['lines'] / t_ours:,.0f} lines/s), "
              f"peak RSS {max(r for _, r in ours):.0f} MiB   runs: {', '.join(f'{t:.1f}' for t, _ in ours)}")
        print(f"bare orjson.loads: median {t_bare:.1f} s ({stats['lines'] / t_bare:,.0f} lines/s), "
              f"peak RSS {max(r for _, r in bare):.0f} MiB   runs: {', '.join(f'{t:.1f}' for t, _ in bare)}")
        print(f"ratio tokentop / bare (time): {t_ours / t_bare:.2f}")
    if problems:
        print("PROBLEMS:\n  " + "\n  ".join(dict.fromkeys(problems)))
        sys.exit(1)
    print("ok: no crash, nothing on stderr, every line accounted for, totals sane")


if __name__ == "__main__":
    main()
