"""Two tokentops on the same sources and state dir, at the same time (real processes), while a writer
appends: each checkpoint either of them leaves is whole and usable, and counts every line once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tokentop.checkpoint import FULL, CheckpointStore
from tokentop.config import parse_config
from tokentop.resume import source_configs

WRITER = """
import json, os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
for i in range(int(sys.argv[2])):
    os.write(fd, json.dumps({"ts": 1790000000 + i, "request_id": f"w{i}", "user": f"u{i % 4}", "model": "gpt-4o",
                             "provider": "openai", "prompt_tokens": 10, "completion_tokens": 1}).encode() + b"\\n")
    if i % 50 == 0:
        time.sleep(0.005)
"""
LOOP = """
import subprocess, sys
for _ in range(int(sys.argv[1])):
    subprocess.run([sys.executable, "-m", "tokentop", "snapshot", "--json", "--state-dir", sys.argv[2],
                    sys.argv[3]], stdout=subprocess.DEVNULL, check=True)
"""


def test_two_processes_sharing_a_state_dir_leave_whole_checkpoints(tmp_path: Path):
    log, state = tmp_path / "app.jsonl", tmp_path / "state"
    log.write_bytes(b"")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(log), "20000"])
    loops = [subprocess.Popen([sys.executable, "-c", LOOP, "8", str(state), str(log)], stderr=subprocess.PIPE)
             for _ in range(2)]
    store = CheckpointStore(state, source_configs([str(log)], parse_config({})), parse_config({}))
    seen = 0
    while any(p.poll() is None for p in loops):
        if store.path(FULL).exists():
            loaded = store.load(FULL)  # whatever moment: the file is one of theirs, whole
            assert loaded.notice is None and loaded.checkpoint is not None
            seen += 1
        time.sleep(0.02)
    assert writer.wait(timeout=60) == 0
    for loop in loops:
        errors = loop.stderr.read() if loop.stderr else b""
        assert loop.wait(timeout=60) == 0, errors
        assert b"checkpoint" not in errors  # neither ever found the other's checkpoint damaged
    assert seen > 0
    warm = subprocess.run([sys.executable, "-m", "tokentop", "snapshot", "--json", "--state-dir", str(state), str(log)],
                          capture_output=True, check=True)
    cold = subprocess.run([sys.executable, "-m", "tokentop", "snapshot", "--json", "--no-checkpoint", str(log)],
                          capture_output=True, check=True)
    assert b"checkpoint" not in warm.stderr
    warm_doc, cold_doc = json.loads(warm.stdout), json.loads(cold.stdout)
    assert warm_doc["totals"] == cold_doc["totals"] and warm_doc["totals"]["requests"] == 20000
    assert warm_doc["by_user"] == cold_doc["by_user"]
    assert not list((state / "checkpoints").glob(".*.tmp"))  # no temporary file left behind
