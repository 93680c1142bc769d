"""tokentop's entry points leave even when a thread would keep the process alive."""

from __future__ import annotations

import subprocess
import sys
import time

STRAY = """
import threading, time
from tokentop.leave import leave
threading.Thread(target=lambda: time.sleep(3600), name="stray").start()  # not a daemon: blocks exit
print("done", flush=True)
raise SystemExit(leave(3, grace=0.2))
"""

FINISHING = """
import threading, time
from tokentop.leave import leave
threading.Thread(target=lambda: time.sleep(0.3), name="finishing").start()
raise SystemExit(leave(4, grace=5.0))
"""


def test_a_thread_that_never_ends_does_not_keep_tokentop_running() -> None:
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", STRAY], capture_output=True, text=True, timeout=30)
    assert out.returncode == 3 and out.stdout == "done\n"
    assert time.monotonic() - started < 20  # (without leave, the process would wait an hour)


def test_threads_that_end_are_waited_for() -> None:
    out = subprocess.run([sys.executable, "-c", FINISHING], capture_output=True, text=True, timeout=30)
    assert out.returncode == 4
