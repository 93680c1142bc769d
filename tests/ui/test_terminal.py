"""The live app in a real terminal (a pseudo-terminal): it ends cleanly when the terminal goes away."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest


def _drain(fd: int, seen: bytearray) -> None:
    """Read what the app draws (a full pty would block its writes)."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        seen += chunk


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
def test_the_demo_ends_cleanly_when_its_terminal_hangs_up(tmp_path: Path, signum: int) -> None:
    # A dropped SSH session sends SIGHUP. The app must end the normal way: its terminal threads stop
    # (one of them used to spin on the dead terminal and keep the process alive) and the demo removes
    # its files.
    temp = tmp_path / "tmp"
    temp.mkdir()
    master, slave = pty.openpty()
    env = {**os.environ, "TMPDIR": str(temp), "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "35"}
    proc = subprocess.Popen([sys.executable, "-m", "tokentop"], stdin=slave, stdout=slave, stderr=slave,
                            env=env, start_new_session=True)
    os.close(slave)
    seen = bytearray()
    reader = threading.Thread(target=_drain, args=(master, seen), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while b"Recent requests" not in seen and time.monotonic() < deadline:
            time.sleep(0.1)  # until the panels are drawn
        assert b"Recent requests" in seen, bytes(seen[-500:])
        proc.send_signal(signum)
        assert proc.wait(timeout=15) == 0
        assert list(temp.iterdir()) == []  # the demo's files are gone
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
