"""Alert glue: evaluation for ``tokentop check`` and the live app, and delivery of alert transitions
(an append-only JSON-lines log, a command run with the alert on stdin, the terminal bell).

The app's whole API (see docs/alerts.md)::

    monitor = AlertMonitor.from_config(config, log_path=args.alert_log, command=args.alert_command,
                                       bell=app.bell, ring=args.bell)
    every monitor.interval seconds:  monitor.evaluate(agg, sources, now)   # delivers transitions
    or on every tick:                active, resolved, transitions = monitor.poll(agg, sources, now)
    for panels/snapshots:            monitor.active, monitor.resolved(now)
    on a key press:                  monitor.mute(rule, subject)
    on exit:                         await monitor.aclose()
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from tokentop.config import Config, ConfigError
from tokentop.core.aggregate import Aggregator
from tokentop.core.alerts import (
    AlertEngine, AlertSettings, SettingError, Situation, SourceInfo, Transition, evaluate,
    findings_to_views, parse_alert_settings,
)
from tokentop.core.snapshot import AlertView
from tokentop.sources.base import UNREAD


def alert_settings(config: Config) -> AlertSettings:
    """The ``[alerts]`` table checked against the rules' defaults (a ConfigError names the bad key)."""
    try:
        return parse_alert_settings(config.alerts)
    except SettingError as exc:
        raise ConfigError(config.path, exc.key, exc.problem) from None


def situation(agg: Aggregator, sources: Iterable[Any], now: float) -> Situation:
    agg.advance(now)  # fold aged-out minutes first, so every rule sees the same buckets
    return Situation(agg, now, tuple(SourceInfo.of(s) for s in sources))


def evaluate_once(agg: Aggregator, sources: Sequence[Any], config: Config, now: float) -> list[AlertView]:
    """One evaluation of every rule on what the sources hold now (``tokentop check``)."""
    settings = alert_settings(config)
    return findings_to_views(evaluate(situation(agg, sources, now), settings), now, settings)


def check_exit_status(alerts: Sequence[AlertView], sources: Sequence[Any]) -> int:
    """0: nothing to report; 1: warnings; 2: something critical, or no source could be read at all."""
    if any(a.severity == "critical" for a in alerts):
        return 2
    if sources and all(s.status.state in UNREAD for s in sources):
        return 2
    return 1 if any(a.severity == "warning" for a in alerts) else 0


class AlertLog:
    """Appends each transition as one JSON line (``{"event": "start"|"escalate"|"end", "at": ...}``).

    Write failures are counted and kept in ``last_error``, never raised into the app.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self.written = 0
        self.failures = 0
        self.last_error: str | None = None

    def write(self, transitions: Iterable[Transition]) -> None:
        lines = b"".join(orjson.dumps(t.to_dict()) + b"\n" for t in transitions)
        if not lines:
            return
        try:
            with self.path.open("ab") as out:
                out.write(lines)
            self.written += lines.count(b"\n")
        except OSError as exc:
            self.failures += 1
            self.last_error = f"cannot write alert log {self.path}: {exc.strerror or exc}"


class AlertCommand:
    """Runs a shell command per transition with its JSON on stdin, in the background.

    ``submit`` starts the process and returns (the payload is far smaller than a pipe buffer, so
    writing it never blocks); a task then polls it until it exits or ``timeout`` passes, after which
    the command's whole process group is killed. Plain ``Popen`` plus polling rather than asyncio's
    subprocess transport: a run cancelled while asyncio is still spawning it can hang loop shutdown
    (seen on CPython 3.11), and a poll loop can always be cancelled and the process always killed.
    At most ``max_running`` run at once; beyond that transitions are dropped and counted. Failures
    (cannot start, non-zero exit, timeout) are counted, never raised.
    """

    POLL = 0.05

    def __init__(self, command: str, timeout: float = 10.0, max_running: int = 4) -> None:
        self.command = command
        self.timeout = timeout
        self.max_running = max_running
        self.succeeded = self.failures = self.timeouts = self.dropped = 0
        self.last_error: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, payload: dict[str, Any]) -> bool:
        """Start a run (needs a running event loop); False if it was dropped or could not start."""
        if len(self._tasks) >= self.max_running:
            self.dropped += 1
            return False
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._failed("alert command not run: no event loop is running")
            return False
        stderr = tempfile.TemporaryFile()
        try:
            proc = subprocess.Popen(  # noqa: S602 - the user's own configured command line
                self.command, shell=True, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr,
                start_new_session=sys.platform != "win32",
            )
        except OSError as exc:
            stderr.close()
            self._failed(f"cannot start alert command: {exc.strerror or exc}")
            return False
        try:
            assert proc.stdin is not None
            proc.stdin.write(orjson.dumps(payload) + b"\n")
            proc.stdin.close()
        except OSError:
            pass  # the command exited without reading its input; its exit status tells
        task = loop.create_task(self._wait(proc, stderr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def _wait(self, proc: subprocess.Popen[bytes], stderr: IO[bytes]) -> None:
        deadline = time.monotonic() + self.timeout
        try:
            while proc.poll() is None:
                if time.monotonic() >= deadline:
                    self.timeouts += 1
                    self._failed(f"alert command timed out after {self.timeout:g} s and was killed")
                    _kill(proc)
                    return
                await asyncio.sleep(self.POLL)
            if proc.returncode == 0:
                self.succeeded += 1
            else:
                stderr.seek(0)
                tail = stderr.read()[-400:].decode("utf-8", "replace").strip()[-200:]
                self._failed(f"alert command exited with status {proc.returncode}" + (f": {tail}" if tail else ""))
        finally:
            if proc.poll() is None:
                _kill(proc)  # cancelled (the app is closing): never leave it behind
            stderr.close()

    def _failed(self, message: str) -> None:
        self.failures += 1
        self.last_error = message

    async def aclose(self) -> None:
        """Wait for running commands (each is bounded by its timeout)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the command and anything it started (its own session), then reap it."""
    try:
        if sys.platform != "win32":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        pass


class AlertDispatcher:
    """Delivers transitions to the configured channels: the log, the command, the bell (on starts)."""

    def __init__(self, log_path: str | os.PathLike[str] | None = None, command: str | None = None,
                 timeout: float = 10.0, bell: Callable[[], object] | None = None) -> None:
        self.log = AlertLog(log_path) if log_path else None
        self.command = AlertCommand(command, timeout) if command else None
        self.bell = bell

    def deliver(self, transitions: Sequence[Transition]) -> None:
        """Log synchronously (a few bytes), start the commands in the background; never blocks."""
        if not transitions:
            return
        if self.log is not None:
            self.log.write(transitions)
        if self.command is not None:
            for t in transitions:
                self.command.submit(t.to_dict())
        if self.bell is not None and any(t.kind == "start" for t in transitions):
            self.bell()

    @property
    def problems(self) -> list[str]:
        """Delivery failures to show in the UI (already plain text; sanitise before display)."""
        return [p for p in (self.log and self.log.last_error, self.command and self.command.last_error) if p]

    async def aclose(self) -> None:
        if self.command is not None:
            await self.command.aclose()


class AlertMonitor:
    """The live app's alerting: rules + lifecycle + delivery, driven by ``evaluate`` every ``interval``."""

    def __init__(self, settings: AlertSettings, dispatcher: AlertDispatcher | None = None) -> None:
        self.settings = settings
        self.engine = AlertEngine(settings)
        self.dispatcher = dispatcher or AlertDispatcher()
        self.evaluated_at: float | None = None

    @classmethod
    def from_config(cls, config: Config, *, log_path: str | None = None, command: str | None = None,
                    bell: Callable[[], object] | None = None, ring: bool = False) -> AlertMonitor:
        """Command-line values win over ``[alerts] log``/``command``; ``bell`` (the app's bell) is rung
        when an alert starts if ``ring`` (``--bell``) or ``[alerts] bell = true``."""
        settings = alert_settings(config)
        dispatcher = AlertDispatcher(log_path or settings.log or None, command or settings.command or None,
                                     settings.command_timeout, bell if ring or settings.bell else None)
        return cls(settings, dispatcher)

    @property
    def interval(self) -> float:
        return self.settings.interval

    def evaluate(self, agg: Aggregator, sources: Iterable[Any], now: float, *, deliver: bool = True
                 ) -> list[Transition]:
        """Evaluate every rule now and update the lifecycle; deliver the transitions unless told not
        to (then call ``dispatcher.deliver`` on the event loop's thread yourself)."""
        transitions = self.engine.update(evaluate(situation(agg, sources, now), self.settings), now)
        self.evaluated_at = now
        if deliver:
            self.dispatcher.deliver(transitions)
        return transitions

    def poll(self, agg: Aggregator, sources: Iterable[Any], now: float, *, deliver: bool = True
             ) -> tuple[list[AlertView], list[AlertView], list[Transition]]:
        """For a caller that ticks faster than ``interval``: evaluate when one is due (else no
        transitions), and return (active, recently resolved, transitions)."""
        due = self.evaluated_at is None or now - self.evaluated_at >= self.interval or now < self.evaluated_at
        transitions = self.evaluate(agg, sources, now, deliver=deliver) if due else []
        return self.active, self.resolved(now), transitions

    @property
    def active(self) -> list[AlertView]:
        return self.engine.active

    def resolved(self, now: float) -> list[AlertView]:
        return self.engine.resolved(now)

    def mute(self, rule: str, subject: str | None = None) -> None:
        self.engine.mute(rule, subject)

    def unmute(self, rule: str, subject: str | None = None) -> None:
        self.engine.unmute(rule, subject)

    async def aclose(self) -> None:
        await self.dispatcher.aclose()
