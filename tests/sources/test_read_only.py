"""Sources never write to what they watch: a followed log directory, through appends, a rotation and
a truncation by a real writer process, is left exactly as the writer made it, and every descriptor
tokentop holds on it is open read-only (checked in /proc)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest


pytestmark = pytest.mark.skipif(not Path("/proc/self/fdinfo").is_dir(), reason="needs /proc (Linux)")


def tree(directory: Path) -> dict[str, tuple[str, int, int]]:
    """name -> (sha256, size, mtime_ns) of everything in the directory."""
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(directory.iterdir())}


def descriptors_on(directory: Path) -> list[tuple[str, int]]:
    """(path, open flags) of this process's descriptors on files inside ``directory``."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
            flags = next(line for line in Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines()
                         if line.startswith("flags:"))
        except (OSError, StopIteration):
            continue
        if target.startswith(str(directory)):
            found.append((target, int(flags.split()[1], 8)))
    return found


async def test_a_followed_directory_is_left_as_the_writer_made_it(tmp_path, writer, follow):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "gw.jsonl"
    await writer("append", log, 0, 20)
    f = await follow(logs / "*.jsonl*", start="beginning")
    await writer("append", log, 20, 20)
    await f.has(range(40))
    opened = descriptors_on(logs)
    assert opened and all(flags & os.O_ACCMODE == os.O_RDONLY for _, flags in opened), opened
    await writer("rotate", log)
    await writer("append", log, 40, 20)
    await writer("copytruncate", log)
    await writer("append", log, 60, 20)
    await f.has(range(80))
    before = tree(logs)
    await f.stop()
    assert tree(logs) == before  # nothing created, renamed, deleted or written by the follower
    assert set(before) == {"gw.jsonl", "gw.jsonl.1", "gw.jsonl.copy2"}  # (the writer numbers its copies on)
