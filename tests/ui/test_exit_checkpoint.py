"""Every way out of the live app leaves a checkpoint: ``q``, Ctrl-C (SIGINT), SIGTERM and a hang-up, in a
real pseudo-terminal; the next start resumes from it and counts what was written meanwhile once."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tokentop.checkpoint import RECENT, CheckpointStore
from tokentop.config import parse_config
from tokentop.ingest import drain
from tokentop.resume import live_start, source_configs

from .test_terminal import _drain


def _line(i: int) -> bytes:
    return json.dumps({"ts": time.time() - 600 + i * 0.01, "request_id": f"r{i}", "user": f"u{i % 3}",
                       "provider": "openai", "model": "gpt-4o", "prompt_tokens": 10, "completion_tokens": 2}).encode() + b"\n"


@pytest.mark.parametrize("leave", ["q", "SIGINT", "SIGTERM", "SIGHUP"])
def test_every_way_out_leaves_a_checkpoint(tmp_path: Path, leave: str) -> None:
    log, state = tmp_path / "app.jsonl", tmp_path / "state"
    log.write_bytes(b"".join(_line(i) for i in range(500)))
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "35"}
    proc = subprocess.Popen([sys.executable, "-m", "tokentop", str(log), "--state-dir", str(state)],
                            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    seen = bytearray()
    threading.Thread(target=_drain, args=(master, seen), daemon=True).start()
    try:
        deadline = time.monotonic() + 30
        while b"u0" not in seen and time.monotonic() < deadline:  # the history is on screen
            time.sleep(0.1)
        assert b"u0" in seen, bytes(seen[-500:])
        with log.open("ab") as out:  # written while it runs
            out.write(b"".join(_line(i) for i in range(500, 520)))
        time.sleep(1.5)
        if leave == "q":
            os.write(master, b"q")
        else:
            proc.send_signal(getattr(signal, leave))
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    store = CheckpointStore(state, source_configs([str(log)], parse_config({})), parse_config({}))
    loaded = store.load(RECENT)
    assert loaded.notice is None and loaded.checkpoint is not None
    assert loaded.checkpoint.sources[0].status["events"] == 520  # every line read before it left
    with log.open("ab") as out:
        out.write(b"".join(_line(i) for i in range(520, 530)))
    # the next start resumes from it: the 10 new lines only, each once
    specs, config = source_configs([str(log)], parse_config({})), parse_config({})

    async def restart() -> tuple[int, int]:
        resumed, _ = await live_start(store, specs, config, time.time() - 86400, time.time)
        assert resumed.checkpoint is not None and resumed.notices == []
        await drain(resumed.sources, resumed.aggregator)
        return resumed.aggregator.events, resumed.sources[0].status.events

    assert asyncio.run(restart()) == (530, 530)
