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


def tree_rss_mib(pid: int, include_self: bool = True) -> float:
    """Resident memory (MiB) of ``pid`` and every process below it now: a parallel backfill's worker
    processes are part of what the user pays for (Linux; 0 elsewhere)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0.0
    for entry in entries:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid] if include_self else list(children.get(pid, ()))
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, ()))
        try:
            with open(f"/proc/{current}/statm", "rb") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    return total / (1 << 20)


class TreePeak:
    """The largest :func:`tree_rss_mib` of a process seen while the ``with`` block runs (sampled every
    50 ms in a thread): ``with TreePeak(pid) as peak: ...; peak.mib``."""

    def __init__(self, pid: int, include_self: bool = True) -> None:
        import threading

        self.pid, self.include_self, self.mib = pid, include_self, 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample)

    def _sample(self) -> None:
        while not self._done.wait(0.05):
            self.mib = max(self.mib, tree_rss_mib(self.pid, self.include_self))

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()


def timed(command: list[str], out: Path) -> dict:
    """Run ``command`` (its stdout to ``out``) from a wrapper: wall seconds, and its peak memory: the
    larger of the largest peak RSS of any of its processes (``RUSAGE_CHILDREN``) and the sum over the
    command and its workers together, sampled every 50 ms (``peak_mib``; ``peak_one_mib`` the former)."""
    proc = subprocess.Popen([sys.executable, "-c", WRAP, str(out), *command], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(SRC)})
    with TreePeak(proc.pid, include_self=False) as tree:  # (the wrapper itself is not measured)
        stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"wrapper of {command[:6]} failed ({proc.returncode}): {stderr[-500:]}")
    result = json.loads(stdout)
    if result["code"] != 0:
        raise SystemExit(f"{command[:6]} failed with {result['code']}")
    result["peak_one_mib"] = result["peak_mib"]
    result["peak_mib"] = max(result["peak_mib"], tree.mib)
    return result
