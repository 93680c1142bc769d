"""One event per request when several records report it: the superseding state of one source.

A format marks fields with ``SUPERSEDE: (key, rank)`` (rank an int). One event is kept per key. A
record whose rank is not higher than the kept one's is absorbed (a duplicate: nothing is built). A
higher rank replaces the kept event: if that event has not been delivered yet it is replaced before
delivery (see below); otherwise the new event is emitted and the delivered one is queued as a
retraction. Callers that deliver events call :meth:`Superseding.deliver` at each delivery (the
normaliser's ``deliver`` / ``take_retractions``; ``LineDecoder.decode`` does) and pass the retractions
on as ``Batch.retracted``.

Two ways in, one result:

* :meth:`Superseding.kept` builds a record's event at once (the single-record methods must return
  it); a better record seen before delivery updates that event in place at delivery.
* :meth:`Superseding.defer` builds nothing: it queues the key, and the event is built once, at
  delivery, from the best record seen (transcripts repeat each response over several lines: building
  only the best saves most of the work). :meth:`Superseding.deliver` returns the queued events in the
  order their keys were first seen, with the events :meth:`Superseding.queue` was given in between.

A build that fails (``SkipRecord``, a bad time) is a counted skip, and the next best record seen
before the delivery stands instead (a request is lost only when all its records are bad).

Memory is bounded: the ranks of the last ``supersede_window`` keys are kept (about 100 bytes each) to
drop duplicates, and slim copies of the last ``retract_window`` delivered events (without their raw
line) to retract them. A higher rank for a key whose event has left the retract window is absorbed:
the earlier count stands rather than counting the request twice.

Keys are :func:`stable_key` hashes, the same in every process (Python's ``hash`` of a string is not),
so the state survives a restart (:meth:`Superseding.export_state` / :meth:`Superseding.import_state`)
and states of several processes reading shares of one source can be compared.
"""

from __future__ import annotations

import base64
import sys
from array import array
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import msgspec
import xxhash

from tokentop.core.event import SkipRecord, UsageEvent
from tokentop.core.formats.recent import RecentMap

Build = Callable[[Any, float, "bytes | None"], UsageEvent]
"""The event of one record's fields (a Fields dict or a Request), read at a time, with its raw line;
raises SkipRecord for a bad record."""
OnSkip = Callable[[SkipRecord], None]
Versions = tuple[Any, float, "bytes | None", Any]
"""Records seen for a key before delivery, best first: (fields, read_time, raw, worse Versions | None)."""

_EVENT_FIELDS = UsageEvent.__struct_fields__
_xxh = xxhash.xxh3_64_intdigest
STATE_KEYS = 20_000
"""Keys an exported state keeps (the most recent): a record of one of them seen after a restart is
recognised as already counted."""
STATE_EVENTS = 256
"""Delivered events an exported state keeps (the most recent), so that a better record arriving after
a restart still retracts the one counted before (a response's records are written within seconds)."""
_ABSORB_ALL = sys.maxsize
"""The rank of a restored key whose event was not kept: any later record of it is absorbed, as for a
key whose event has left the retract window."""


def stable_key(key: Hashable) -> int:
    """A 64-bit hash of a superseding key, the same in every process (see the module docstring)."""
    if type(key) is str:
        return _xxh(key.encode("utf-8", "surrogatepass"))
    if type(key) is tuple:
        return _xxh("\x1f".join(map(str, key)).encode("utf-8", "surrogatepass"))
    return _xxh(repr(key).encode("utf-8", "surrogatepass"))
_RANK, _EVENT, _BETTER, _KNOWN = range(4)
"""An entry of ``Superseding._fresh`` (a list, updated in place): the best rank seen; the event (None
until a deferred one is built); records better than the event, best first, or None; whether the key
was delivered before (its event is to be retracted)."""


class Superseding:
    """The superseding state of one source (the normaliser keeps one)."""

    __slots__ = ("_build", "_fresh", "_ranks", "_delivered", "_retracted", "_queue")

    def __init__(self, build: Build, supersede_window: int, retract_window: int) -> None:
        self._build = build
        self._fresh: dict[Hashable, list[Any]] = {}
        """Keys seen since the last delivery -> their entry (see ``_RANK`` ...)."""
        self._ranks: RecentMap[int] = RecentMap(supersede_window)
        self._delivered: RecentMap[UsageEvent] = RecentMap(retract_window)
        self._retracted: list[UsageEvent] = []
        self._queue: list[UsageEvent | list[Any]] = []
        """What ``deliver`` returns: events, and the entries of deferred keys in their place."""

    def kept(self, key: Hashable, rank: int, fields: Any, read_time: float, raw: bytes | None
             ) -> UsageEvent | None:
        """The event of a superseding record, built now; None when it is absorbed."""
        fresh = self._fresh.get(key)
        if fresh is not None:
            if rank > fresh[_RANK]:
                fresh[_RANK], fresh[_BETTER] = rank, (fields, read_time, raw, fresh[_BETTER])
            return None
        known = self._ranks.get(key)
        if known is not None and rank <= known:
            return None  # a duplicate: no event is even built (the common case in transcripts)
        event = self._build(fields, read_time, raw)
        if known is not None:
            superseded = self._delivered.pop(key)
            if superseded is None:
                return None  # left the retract window: keep the earlier count rather than count twice
            self._retracted.append(superseded)
        self._fresh[key] = [rank, event, None, False]
        return event

    def defer(self, key: Hashable, rank: int, fields: Any, read_time: float, raw: bytes | None) -> None:
        """Queue a superseding record; its event (if any) comes out of the next ``deliver``."""
        fresh = self._fresh.get(key)
        if fresh is not None:
            if rank > fresh[_RANK]:
                fresh[_RANK], fresh[_BETTER] = rank, (fields, read_time, raw, fresh[_BETTER])
            return
        known = self._ranks.get(key)
        if known is not None and rank <= known:
            return
        entry = self._fresh[key] = [rank, None, (fields, read_time, raw, None), known is not None]
        self._queue.append(entry)

    def queue(self, event: UsageEvent) -> None:
        """An event (of a record without a key) to return from the next ``deliver``, in its place."""
        self._queue.append(event)

    def deliver(self, on_skip: OnSkip | None) -> list[UsageEvent]:
        """Build the deferred events, update the kept ones, mark everything as delivered, and return
        the queued events. ``on_skip`` counts the records whose build failed (None: not counted)."""
        build, choose, delivered = self._build, self._choose, self._delivered
        ranks: dict[Hashable, int] = {}
        slim: dict[Hashable, UsageEvent] = {}
        lost = False
        for key, entry in self._fresh.items():
            rank, event, better, known = entry
            if event is None:  # deferred: built now, from the best record that builds
                fields, read_time, raw, worse = better
                try:
                    event = build(fields, read_time, raw)
                except Exception as exc:  # noqa: BLE001 - see _choose
                    if on_skip is not None:
                        on_skip(_skip_of(exc))
                    event = choose(worse, on_skip)
                if event is not None and known:
                    superseded = delivered.pop(key)
                    if superseded is None:  # left the retract window: the earlier count stands
                        event = None
                    else:
                        self._retracted.append(superseded)
                entry[_EVENT] = event
                if event is None:
                    lost = True
                    continue  # nothing delivered: the key's next record is judged afresh
            elif better is not None:
                _update(event, choose(better, on_skip))
            ranks[key] = rank
            if event.raw is not None:  # the retract window needs no raw line (a copy: the caller has the event)
                event = event.__copy__()
                event.raw = None
            slim[key] = event
        self._fresh.clear()
        self._ranks.update(ranks)
        delivered.update(slim)
        queue, self._queue = self._queue, []
        events = [item if type(item) is UsageEvent else item[_EVENT] for item in queue]
        return [e for e in events if e is not None] if lost else events  # type: ignore[misc]

    def export_state(self, keys: int = STATE_KEYS, events: int = STATE_EVENTS) -> dict[str, Any]:
        """The delivered state (call it right after a delivery): the most recent ``keys`` keys, and the
        most recent ``events`` delivered events with their ranks. JSON-serialisable."""
        ranks, delivered = self._ranks, self._delivered
        kept = [(key, ranks.peek(key), delivered.peek(key)) for key in delivered.newest(events)]
        return {
            "keys": base64.b64encode(array("Q", ranks.newest(keys)).tobytes()).decode("ascii"),
            "events": [[f"{key:016x}", rank, _event_dict(event)] for key, rank, event in kept
                       if rank is not None and event is not None],
        }

    def import_state(self, state: Mapping[str, Any]) -> None:
        """Take an exported state (into a fresh instance); ValueError when it is not one."""
        try:
            packed = base64.b64decode(state["keys"], validate=True)
            keys = array("Q")
            keys.frombytes(packed)
            events = [(int(key, 16), int(rank), msgspec.convert(fields, UsageEvent))
                      for key, rank, fields in state["events"]]
        except (KeyError, TypeError, ValueError, msgspec.ValidationError) as exc:
            raise ValueError(f"not a superseding state: {exc}"[:200]) from None
        self._ranks.update(dict.fromkeys(keys, _ABSORB_ALL))
        self._ranks.update({key: rank for key, rank, _ in events})
        self._delivered.update({key: event for key, _, event in events})

    # -- shares of one source read apart (a parallel backfill): which keys each counted, and taking
    #    back those another share counted better

    def widen(self, window: int) -> None:
        """Remember ``window`` keys and delivered events (a fresh instance: a backfill worker keeps every
        key of its share); the events packed, at a third of their size as objects."""
        self._ranks = RecentMap(window)
        self._delivered = PackedEvents(window)

    def ranks(self) -> dict[int, int]:
        """Every delivered key still remembered, with its rank."""
        return {**self._ranks._old, **self._ranks._new}

    def take_back(self, key: int) -> UsageEvent | None:
        """Forget a delivered key (another share counted it with a better record) and return its
        event to uncount; None when it left the retract window."""
        self._ranks.pop(key)
        return self._delivered.pop(key)

    def take_retractions(self) -> list[UsageEvent]:
        """The delivered events superseded since the last call."""
        retracted, self._retracted = self._retracted, []
        return retracted

    def _choose(self, versions: Versions | None, on_skip: OnSkip | None) -> UsageEvent | None:
        """The event of the best record that builds; each record that does not is a skip."""
        build = self._build
        while versions is not None:
            fields, read_time, raw, versions = versions
            try:
                return build(fields, read_time, raw)
            except Exception as exc:  # noqa: BLE001 - one odd record (or a format's bug) must not stop a source
                if on_skip is not None:
                    on_skip(_skip_of(exc))
        return None


def _skip_of(exc: Exception) -> SkipRecord:
    return exc if isinstance(exc, SkipRecord) else SkipRecord("bad_record", f"{type(exc).__name__}: {exc}")


def _update(event: UsageEvent, better: UsageEvent | None) -> None:
    """Update a not-yet-delivered event in place (it was returned already) from a better record's."""
    if better is None:
        return  # every better record was bad: the earlier version stands
    astuple = msgspec.structs.astuple
    for name, old, new in zip(_EVENT_FIELDS, astuple(event), astuple(better)):
        if old is not new:  # most fields of a better record's event are the same objects
            setattr(event, name, new)


class PackedEvents(RecentMap[UsageEvent]):
    """A RecentMap of delivered events kept packed (msgpack of their fields): a worker reading a share
    of a large history keeps one per request until it knows which other shares counted."""

    def __setitem__(self, key: Hashable, value: UsageEvent) -> None:
        super().__setitem__(key, _pack(value))  # type: ignore[arg-type]

    def update(self, items: dict[Hashable, UsageEvent]) -> None:
        super().update({key: _pack(event) for key, event in items.items()})  # type: ignore[misc]

    def get(self, key: Hashable) -> UsageEvent | None:
        packed = self._new.get(key)
        if packed is None:
            packed = self._old.get(key)
        return None if packed is None else _unpack(packed)  # type: ignore[arg-type]

    def pop(self, key: Hashable) -> UsageEvent | None:
        packed = super().pop(key)
        return None if packed is None else _unpack(packed)  # type: ignore[arg-type]

    peek = get  # (get promotes nothing here either)


def _pack(event: UsageEvent) -> bytes:
    return _PACK(msgspec.structs.astuple(event))


def _unpack(packed: bytes) -> UsageEvent:
    return UsageEvent(*_UNPACK(packed))


_PACK = msgspec.msgpack.Encoder().encode
_UNPACK = msgspec.msgpack.Decoder().decode


def merge_exported(states: list[Mapping[str, Any] | None]) -> dict[str, Any] | None:
    """One exported state for the shares of a source read apart: every share's keys, and for a key
    delivered by several shares the event of the best rank (ValueError when one is not a state)."""
    states = [s for s in states if s is not None]
    if not states:
        return None
    keys: dict[int, None] = {}
    best: dict[str, list[Any]] = {}
    try:
        for state in states:
            packed = array("Q")
            packed.frombytes(base64.b64decode(state["keys"], validate=True))
            keys.update(dict.fromkeys(packed))
            for key, rank, fields in state["events"]:
                if key not in best or rank > best[key][1]:
                    best[key] = [key, rank, fields]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a superseding state: {exc}"[:200]) from None
    return {"keys": base64.b64encode(array("Q", keys).tobytes()).decode("ascii"), "events": list(best.values())}


def _event_dict(event: UsageEvent) -> dict[str, Any]:
    """An event's fields that differ from their defaults (a restored event compares equal)."""
    defaults = _DEFAULTS
    return {name: value for name, value, default in zip(_EVENT_FIELDS, msgspec.structs.astuple(event), defaults)
            if value != default or name in ("ts", "source")}


_DEFAULTS = tuple(getattr(UsageEvent(ts=0.0, source=""), name) for name in _EVENT_FIELDS)
