"""Which files a set of path globs names, and waking up when something in their directories changes.

Directories are watched, never files (a watch on a file is lost when the file is replaced,
samuelcolvin/watchfiles#235), non-recursively, and every change is only a reason to look again: the
follower re-stats what it reads, and a slow stat sweep covers events the OS coalesced or dropped.
"""

from __future__ import annotations

import asyncio
import glob
import os
import threading
import time
from collections.abc import Iterable
from fnmatch import fnmatchcase
from pathlib import Path

DEBOUNCE_MS = 40
STEP_MS = 20
RETRY_AFTER = 10.0
"""Seconds before a watch that failed (too many watches, say) is tried again on the same directories."""
SETTLING_INTERVAL = 0.05
"""Seconds between a follower's looks while its watch is being set up (about a second)."""


def expand(pattern: str) -> str:
    return os.path.abspath(os.path.expanduser(pattern))


def matching_files(patterns: Iterable[str]) -> list[str]:
    """Every path a pattern matches now, in a stable order (globs are expanded, plain paths kept)."""
    found: dict[str, None] = {}
    for pattern in patterns:
        if glob.has_magic(pattern):
            found.update(dict.fromkeys(sorted(glob.glob(pattern, recursive=True))))
        else:
            found[pattern] = None
    return list(found)


def watch_dirs(patterns: Iterable[str], targets: Iterable[str]) -> frozenset[str]:
    """The directories to watch: each pattern's directory (or every directory its glob matches) and,
    when those do not exist yet, the nearest existing ancestor so their creation wakes us; plus the
    directories of followed files' real paths (a symlink's target may live elsewhere)."""
    dirs: set[str] = set()
    for pattern in patterns:
        parent = os.path.dirname(pattern)
        if glob.has_magic(parent):
            dirs.update(d for d in glob.glob(parent, recursive=True) if os.path.isdir(d))
            parent = _magic_free_prefix(parent)
        dirs.add(_existing_ancestor(parent))
    dirs.update(os.path.dirname(t) for t in targets)
    return frozenset(d for d in dirs if os.path.isdir(d))


def _magic_free_prefix(path: str) -> str:
    parts = Path(path).parts
    for i, part in enumerate(parts):
        if glob.has_magic(part):
            return str(Path(*parts[:i])) if i else os.sep
    return path


def _existing_ancestor(path: str) -> str:
    while not os.path.isdir(path):
        up = os.path.dirname(path)
        if up == path:
            break
        path = up
    return path


class Relevance:
    """watchfiles filter: a change matters if its path matches a pattern, is a directory on the way
    to one (it may be being created), or is a file being followed under its real path."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.pattern_parts = [Path(p).parts for p in patterns]
        self.targets: frozenset[str] = frozenset()

    def __call__(self, _change: object, path: str) -> bool:
        if path in self.targets:
            return True
        parts = Path(path).parts
        return any(
            len(parts) <= len(pattern) and all(fnmatchcase(a, b) for a, b in zip(parts, pattern))
            for pattern in self.pattern_parts
        )


class DirectoryWatcher:
    """Sets ``wake`` whenever watchfiles reports a relevant change in the watched directories.

    watchfiles' ``watch`` runs in a thread of its own, stopped by a ``threading.Event`` it checks
    every step. (Not ``awatch``: cancelling it while its anyio worker thread ran left the follower's
    task hanging until the next signal arrived.) Failing to watch (too many watches, a directory
    vanishing) is not fatal: ``problem`` says why and the follower's stat sweep carries on alone.
    """

    def __init__(self, relevance: Relevance, wake: asyncio.Event) -> None:
        self.relevance = relevance
        self.wake = wake
        self.dirs: frozenset[str] = frozenset()
        self.problem: str | None = None
        self.ready = False
        """True once the watch is in place (watchfiles' first report, at most ``rust_timeout`` after
        the start): changes from then on wake the follower; before, only its polls see them."""
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._failed_at = float("-inf")

    @property
    def settling(self) -> bool:
        """The watch is being set up: a change may go unreported, so followers poll often meanwhile."""
        return self._thread is not None and not self.ready and self.problem is None

    def watch(self, dirs: frozenset[str]) -> None:
        """Watch exactly ``dirs`` (restarting the watch when the set changed or the watch ended; one
        that failed is tried again after ``RETRY_AFTER`` seconds)."""
        if dirs == self.dirs and (self._thread is not None and self._thread.is_alive()
                                  or time.monotonic() - self._failed_at < RETRY_AFTER):
            return
        self.stop()
        self.dirs = dirs
        self.ready = False
        if dirs:
            self._stop = threading.Event()
            loop = asyncio.get_running_loop()
            self._thread = threading.Thread(
                target=self._run, args=(sorted(dirs), self._stop, loop), name="tokentop-watch", daemon=True
            )
            self._thread.start()

    def _run(self, dirs: list[str], stop: threading.Event, loop: asyncio.AbstractEventLoop) -> None:
        from watchfiles import watch

        try:
            for changes in watch(*dirs, watch_filter=self.relevance, debounce=DEBOUNCE_MS, step=STEP_MS,
                                 stop_event=stop, rust_timeout=1000, yield_on_timeout=True, recursive=False):
                self.ready = True  # (an empty report: a second passed, watching)
                if changes:
                    loop.call_soon_threadsafe(self.wake.set)
            self.problem = None
        except (OSError, RuntimeError) as exc:
            self.problem = f"not watching directories ({exc}); checking every poll interval"
            self._failed_at = time.monotonic()

    async def until_change(self, interval: float) -> None:
        """Until a relevant change is reported or ``interval`` passes (``SETTLING_INTERVAL`` while the
        watch is being set up, when a change may go unreported), whichever comes first."""
        if self.settling:
            interval = min(interval, SETTLING_INTERVAL)
        # (Not asyncio.wait_for: on 3.11 it swallows a cancellation that meets a wake-up, and a
        # stopping follower would then go on for ever.)
        timer = asyncio.get_running_loop().call_later(interval, self.wake.set)
        try:
            await self.wake.wait()
        finally:
            timer.cancel()
        self.wake.clear()

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()  # the watch thread sees it within one step and ends
        self._thread = self._stop = None
