"""The live monitor needs a terminal: refuse, in one line, to start it without one.

Started from a script, cron or with stdin from /dev/null, Textual's driver spun on the missing
terminal at ~99 % of a core for ever, writing escape codes to wherever stdout went. The headless
commands are the way to use tokentop there.
"""

from __future__ import annotations

import sys

NO_TERMINAL = ("tokentop: the live monitor needs a terminal (stdin and stdout); without one use "
               "`tokentop snapshot SOURCE` for a report or `tokentop tail SOURCE` for a stream of events")
EXIT_NO_TERMINAL = 2


def has_terminal() -> bool:
    """Both stdin and stdout are terminals (a closed or missing stream is not)."""
    try:
        return bool(sys.stdin and sys.stdin.isatty() and sys.stdout and sys.stdout.isatty())
    except (ValueError, OSError):  # a closed stream
        return False


def refuse_without_terminal() -> int | None:
    """None when the live monitor can start; else the exit status, after saying why on stderr."""
    if has_terminal():
        return None
    print(NO_TERMINAL, file=sys.stderr)
    return EXIT_NO_TERMINAL
