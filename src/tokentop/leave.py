"""Leaving the process: a library thread that outlives its work must not keep tokentop running.

Seen here: when the terminal went away under the live app (a killed tmux, a dropped SSH session),
Textual's input thread kept polling the hung-up terminal (about 80 % of a core) and, not being a
daemon thread, kept the process alive after the app had returned. The program's entry points
therefore give such threads a moment to end, then leave anyway. (Only the entry points: code that
calls ``cli.main`` in-process, such as the tests, is never ended this way.)
"""

from __future__ import annotations

import os
import sys
import threading
import time

GRACE = 2.0
"""Seconds the threads still running when tokentop is done get to end by themselves."""


def leave(code: int, grace: float = GRACE) -> int:
    """``code``, once every non-daemon thread has ended; if some will not, the process exits now."""
    strays = [t for t in threading.enumerate()
              if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    deadline = time.monotonic() + grace
    for thread in strays:
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in strays):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # noqa: SLF001 - the documented way out past threads that never end
    return code
