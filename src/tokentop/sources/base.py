"""What every source shares: its status, the batches it yields, and the interface the app and CLI use.

Every source can also be *resumed* (``checkpoint`` / ``restore``, see :class:`Source`) and reports how
far it has read its history (``progress``); the checkpoint store above the sources keeps the states.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Final, Literal, Protocol

from tokentop.core.event import CounterReading, SkipRecord, UsageEvent, iso
from tokentop.core.summaries import Summary, summed_requests

State = Literal["starting", "ok", "stale", "waiting", "error", "done"]
"""``waiting``: the file the source reads does not exist (yet); ``detail`` says which."""
UNREAD: Final = frozenset({"error", "waiting"})
"""States in which a source has nothing to give: when every source is in one, the headless commands
exit with status 2."""
Unit = Literal["bytes", "rows"]
STATE_VERSION = 1
"""Version of the resume states sources write (``"version"`` in each); a state of another version is
ignored, never guessed at."""
_TS = attrgetter("ts")


@dataclass(slots=True)
class UserLimit:
    """A user's limit and plan as reported by the system being watched (a usage endpoint)."""

    user: str
    limit: int | None
    plan: str | None = None


@dataclass(slots=True)
class Batch:
    """What a source read in one go: new events, events superseded by ``events`` (a format saw a more
    complete version of the same request), limits reported for users, and raw counter readings."""

    events: list[UsageEvent] = field(default_factory=list)
    retracted: list[UsageEvent] = field(default_factory=list)
    limits: list[UserLimit] = field(default_factory=list)
    readings: list[CounterReading] = field(default_factory=list)
    summaries: list[Summary] = field(default_factory=list)
    """History a database summed (see ``tokentop.core.summaries``): counted like the events it stands for."""

    def __bool__(self) -> bool:
        return bool(self.events or self.retracted or self.limits or self.readings or self.summaries)


@dataclass(slots=True)
class SourceStatus:
    """A source's health and counters, shown in the header and in snapshots.

    ``skipped`` counts records that could not be used; ``skip_reasons`` keeps how many of each
    reason and ``last_skip`` the latest detail, so nothing is lost silently.
    """

    name: str
    kind: str
    state: State = "starting"
    events: int = 0
    skipped: int = 0
    skip_reasons: Counter[str] = field(default_factory=Counter)
    last_skip: str | None = None
    last_event_at: float | None = None
    """Event time (UTC epoch seconds) of the newest event."""
    last_read_at: float | None = None
    """Wall-clock time the source last read anything successfully."""
    error: str | None = None
    detail: str | None = None
    """Extra state for display: the file being followed, the HTTP status, ..."""
    note: str | None = None
    """A one-off notice that is not an error: why a resume state was ignored, what was skipped at start."""
    lag_seconds: float | None = None
    """How far behind the source is: for logs and ledgers, how old the newest record was when it was
    read (a backfill of old records shows its age until it catches up); for usage endpoints, the age
    of the last good response."""

    def skip(self, problem: SkipRecord) -> None:
        self.skipped += 1
        self.skip_reasons[problem.reason] += 1
        self.last_skip = str(problem)[:200]

    def saw(self, events: list[UsageEvent], now: float | None = None) -> None:
        self.events += len(events)
        read_at = time.time() if now is None else now
        if events:
            newest = max(map(_TS, events))  # C-level loop: a backfill sees millions
            if self.last_event_at is None or newest > self.last_event_at:
                self.last_event_at = newest
            self.lag_seconds = max(0.0, read_at - newest)
        self.last_read_at = read_at
        if self.state in ("starting", "stale", "waiting"):
            self.state = "ok"

    def wait_for(self, what: str) -> None:
        """The file (or glob) the source reads does not exist: the same plain status in the header,
        ``snapshot``, ``check`` and ``tail``."""
        self.state, self.error, self.detail = "waiting", None, f"waiting for {what} to appear"

    def saw_summaries(self, summaries: list[Summary], now: float) -> None:
        """:meth:`saw` for history summed by a database: its requests count as events read."""
        self.events += summed_requests(summaries)
        newest = max((s.counts.last_ts for s in summaries), default=None)
        if newest is not None and (self.last_event_at is None or newest > self.last_event_at):
            self.last_event_at = newest
            self.lag_seconds = max(0.0, now - newest)
        self.last_read_at = now

    def fail(self, message: str) -> None:
        self.state = "error"
        self.error = message

    def recover(self) -> None:
        if self.state == "error":
            self.state = "ok"
        self.error = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.state,
            "events": self.events,
            "skipped": self.skipped,
            "skip_reasons": dict(self.skip_reasons),
            "last_skip": self.last_skip,
            "last_event_at": iso(self.last_event_at),
            "error": self.error,
            "detail": self.detail,
            "note": self.note,
            "lag_seconds": self.lag_seconds,
        }


@dataclass(frozen=True, slots=True)
class Progress:
    """How much of its history a source has read: ``done`` of ``total`` ``unit`` (file bytes, ledger rows).

    ``total`` is what there was to read when reading began, grown by what was found while reading
    (a file appearing, a file growing). ``done == total`` once the source has caught up.
    """

    done: int
    total: int
    unit: Unit

    @property
    def fraction(self) -> float:
        """Share read, 0.0 .. 1.0 (1.0 when there was nothing to read)."""
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)

    @property
    def complete(self) -> bool:
        return self.done >= self.total

    @classmethod
    def of(cls, history: list[int] | None, unit: Unit) -> Progress | None:
        """A source's ``[done, total]`` (None before reading starts) as its progress."""
        if history is None:
            return None
        done, total = history
        return cls(done, max(done, total), unit)


class Source(Protocol):
    """A usage source. ``role`` is ``primary`` (counted in totals) or ``reference`` (compared only).

    **Resume contract** (every kind implements it; a kind without history keeps it trivial):

    * ``checkpoint()`` returns a small, JSON-serialisable dict: the position *consistent with the
      batches yielded so far* -- restoring it in a new source of the same configuration and reading
      on yields exactly the events not yet yielded, no more, no less. Call it between batches (while
      the consumer holds a batch, the source is suspended at its ``yield``), before ``batches()`` or
      after the iterator ended. It never includes what was read but not yet yielded. The dict holds
      ``"kind"`` and ``"version"`` (:func:`new_state`) and whatever the kind needs: for files, per file
      its fingerprint, a device/inode hint and the offset (a partial last line is re-read, not
      stored); for superseding formats the decoder's keys, so a better record arriving after a
      restart still retracts the one counted before; for ledgers the high-water mark and anchor row;
      for endpoints the last counter readings. It never holds secrets (tokens, URLs with them).
    * ``restore(state)`` is called before ``batches()``. It returns True when the state was taken:
      reading then continues from there (files and tables the state does not know are read from
      their start, still subject to a ``since:`` start). A state that does not fit (another kind,
      another version, a wrong shape, other paths) is ignored with ``status.note`` saying why --
      never an exception -- and the source starts by its ``start`` option instead.
    * ``progress`` is None before reading starts (and for kinds without history); then a
      :class:`Progress` of the history being read, ``complete`` once caught up.

    **Start policy** (option ``start``, every kind; see :func:`tokentop.sources.options.start_of`):
    ``end`` (only what arrives from now on), ``beginning``, ``tail:N`` (or an integer: the last N
    records of each file/table), ``since:TIME`` (records at or after TIME). ``end`` and ``tail`` apply
    when following; reading to the end (``follow=False``) reads everything, ``since`` filtered.
    """

    name: str
    kind: str
    role: str
    status: SourceStatus

    @property
    def progress(self) -> Progress | None: ...

    def batches(self, follow: bool) -> AsyncIterator[Batch]:
        """Yield batches: everything up to the current end, then (if ``follow``) new data as it
        arrives, until cancelled. Without ``follow`` the iterator ends once the end is reached.
        Errors are reported through ``status``, never raised for bad data or a failing peer."""
        ...

    def checkpoint(self) -> dict[str, Any]:
        """The resume state consistent with the batches yielded so far (see the class docstring)."""
        ...

    def restore(self, state: Mapping[str, Any]) -> bool:
        """Continue from ``state`` (before ``batches``); False (and a note) if it does not fit."""
        ...

    async def aclose(self) -> None: ...


def new_state(kind: str, **body: Any) -> dict[str, Any]:
    """A resume state of ``kind`` in the current :data:`STATE_VERSION`."""
    return {"kind": kind, "version": STATE_VERSION, **body}


def state_body(state: Any, kind: str, status: SourceStatus) -> Mapping[str, Any] | None:
    """``state`` if it is a resume state of ``kind`` in this version; else None, noted in ``status``."""
    if not isinstance(state, Mapping):
        status.note = f"resume state ignored: not a mapping ({type(state).__name__})"
        return None
    if state.get("kind") != kind:
        status.note = f"resume state ignored: it is of kind {str(state.get('kind'))[:40]!r}, not {kind!r}"
        return None
    if state.get("version") != STATE_VERSION:
        status.note = f"resume state ignored: version {str(state.get('version'))[:20]}, not {STATE_VERSION}"
        return None
    return state


def state_ignored(status: SourceStatus, why: str) -> bool:
    """Note why a resume state was not used; returns False (``restore``'s answer)."""
    status.note = f"resume state ignored: {why}"[:300]
    return False
