"""A writer in a process of its own, driven line by line over its stdin (one command, one reply): the
ledger and PostgreSQL tests' writers are such scripts, so what tokentop follows is written by another
process, as in production."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path


class WriterProcess:
    """``python SCRIPT ARG``; ``send`` returns its reply (in a thread: the test's loop keeps polling)."""

    close_timeout = 10.0

    def __init__(self, script: Path, arg: str) -> None:
        self.proc = subprocess.Popen([sys.executable, str(script), arg], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def send_now(self, command: str) -> str:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    async def send(self, command: str) -> str:
        return await asyncio.to_thread(self.send_now, command)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin
            self.proc.stdin.close()
            self.proc.wait(timeout=self.close_timeout)
