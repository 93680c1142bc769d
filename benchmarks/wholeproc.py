"""Whole-process measurements shared by the benchmarks: a command timed from outside with its peak
memory (and its workers'), and the bare parse every tokentop figure is set against.

The bare parse (``bare_command``) is a fresh interpreter reading every file in 1 MiB chunks, splitting
lines and decoding each with ``orjson.loads`` or a reused ``msgspec.json.Decoder`` -- no normalising,
no counting: what reading the history costs at the least.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BARE = r"""
import sys
from pathlib import Path
decode = {decoder}
count = 0
for path in sys.argv[1:]:
    rest = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            parts = (rest + chunk).split(b"\n")
            rest = parts.pop()
            for line in parts:
                if line:
                    decode(line)
                    count += 1
print(count)
"""
DECODERS = {"orjson": "__import__('orjson').loads", "msgspec": "__import__('msgspec').json.Decoder().decode"}

WRAP = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
with open(sys.argv[1], "wb") as out:
    code = subprocess.run(sys.argv[2:], stdout=out).returncode
print(json.dumps({"seconds": time.perf_counter() - start, "code": code,
                  "peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""
SRC = Path(__file__).resolve().parents[1] / "src"


def bare_command(decoder: str, files: list[str]) -> list[str]:
    """A fresh interpreter decoding every line of ``files`` (``decoder``: orjson or msgspec)."""
    return [sys.executable, "-c", BARE.format(decoder=DECODERS[decoder]), *files]


def tokentop(*args: str) -> list[str]:
    return [sys.executable, "-m", "tokentop", *args]


def timed(command: list[str], out: Path) -> dict:
    """Run ``command`` (its stdout to ``out``) from a wrapper: wall seconds, and the largest peak RSS
    of it and every process it started (``RUSAGE_CHILDREN``)."""
    done = subprocess.run([sys.executable, "-c", WRAP, str(out), *command], capture_output=True, text=True,
                          check=True, env={**os.environ, "PYTHONPATH": str(SRC)})
    result = json.loads(done.stdout)
    if result["code"] != 0:
        raise SystemExit(f"{command[:6]} failed with {result['code']}")
    return result
