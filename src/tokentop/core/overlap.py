"""One request, several counted sources: count it once, and say how much the sources overlap.

``tokentop gateway.jsonl usage.db`` where both record the same requests would add them up. Requests
are matched by request id across the counted sources: the first source to deliver an id counts it;
a copy from another source is not counted, unless that source comes earlier in the sources' order
(the command line's, or the config's): then it replaces the counted one, so which copy counts does
not depend on which source was read faster. Each source's share of requests the others also hold is
kept, for the user to see that one source is a copy of another (and mark it ``--reference``).

What is matched: ids that name a request rather than a row (not all digits: two ledgers' row ids
1, 2, 3 ... are different requests), and copies dated within ``SLACK`` of each other (an id seen again
much later is another request). Events without an id always count.

Memory: an id is remembered (about 200 bytes) until every unfinished counted source has delivered
events ``SLACK`` past its time -- then no copy can come any more -- so following sources keep a few
minutes of ids, and a backfill as many as the sources are apart. At most ``max_ids`` are kept: beyond
that the oldest are let go and counted (``released_early``): a copy arriving after its id was let go
counts again. Only events of sources that come later in the order keep a slim copy (no raw line), to
be taken back if an earlier source delivers the same request.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from typing import Any, Final

import msgspec
from msgspec.structs import replace

from tokentop.core.event import UsageEvent

SLACK: Final = 600.0
"""Seconds two copies of one request may be apart (sources log a request within minutes of it)."""
MAX_IDS: Final = 300_000
"""Request ids remembered at most (about 60 MB): beyond this the oldest are let go early."""

_OWNER, _HOLDERS, _COPY, _TS = range(4)


class RequestOverlap:
    """Admits the events of the counted sources, named in order of preference (see the module doc)."""

    def __init__(self, order: Sequence[str], max_ids: int = MAX_IDS, slack: float = SLACK) -> None:
        self.order = tuple(order)
        self._rank = {name: i for i, name in enumerate(self.order)}
        self.max_ids, self.slack = max_ids, slack
        self._entries: dict[str, list[Any]] = {}
        """request id -> [owner rank, bitmask of the sources holding it, the owner's slim copy, time]."""
        self._minutes: dict[int, list[str]] = {}
        self._heap: list[int] = []
        self._latest = [float("-inf")] * len(self.order)
        self._finished: set[int] = set()
        self.requests = [0] * len(self.order)
        """Requests with a matchable id each source delivered."""
        self.shared: dict[tuple[int, int], int] = {}
        """(rank, rank) -> requests both sources delivered."""
        self.released_early = 0

    def admit(self, events: Iterable[UsageEvent], retracted: Iterable[UsageEvent]
              ) -> tuple[list[UsageEvent], list[UsageEvent]]:
        """The events to count and the events to take back, for one batch of one source: the
        batch's own, less the copies of requests already counted, plus the counted copies an earlier
        source's events replace."""
        add: list[UsageEvent] = []
        remove: list[UsageEvent] = []
        for event in events:
            rank = self._rank.get(event.source)
            if rank is None or not _matchable(event.request_id):
                add.append(event)
                continue
            if event.ts > self._latest[rank]:
                self._latest[rank] = event.ts
            self._one(event, rank, add, remove)
        for event in retracted:
            entry = self._entries.get(event.request_id) if event.request_id is not None else None
            if entry is None or entry[_OWNER] == self._rank.get(event.source):
                remove.append(event)  # (a retraction of a copy that was never counted is dropped)
        self._release()
        return add, remove

    def _one(self, event: UsageEvent, rank: int, add: list[UsageEvent], remove: list[UsageEvent]) -> None:
        entry = self._entries.get(event.request_id)  # type: ignore[arg-type]
        if entry is not None and abs(entry[_TS] - event.ts) > self.slack:
            add.append(event)  # the same id much later: another request
            return
        if entry is None:
            self._remember(event, rank)
            add.append(event)
            return
        bit = 1 << rank
        if not entry[_HOLDERS] & bit:
            self.requests[rank] += 1
            for other in range(len(self.order)):
                if entry[_HOLDERS] & (1 << other):
                    pair = (min(rank, other), max(rank, other))
                    self.shared[pair] = self.shared.get(pair, 0) + 1
            entry[_HOLDERS] |= bit
        owner = entry[_OWNER]
        if owner == rank:  # the same source again (a more complete record of the request)
            entry[_COPY] = _slim(event, rank)
            add.append(event)
        elif rank < owner:  # an earlier source's copy replaces the counted one
            if entry[_COPY] is not None:
                remove.append(entry[_COPY])
            entry[_OWNER], entry[_COPY] = rank, _slim(event, rank)
            add.append(event)

    def _remember(self, event: UsageEvent, rank: int) -> None:
        request_id = event.request_id
        self._entries[request_id] = [rank, 1 << rank, _slim(event, rank), event.ts]  # type: ignore[index]
        self.requests[rank] += 1
        minute = int(event.ts // 60)
        ids = self._minutes.get(minute)
        if ids is None:
            ids = self._minutes[minute] = []
            heapq.heappush(self._heap, minute)
        ids.append(request_id)  # type: ignore[arg-type]

    def finish(self, source: str) -> None:
        """``source`` will deliver nothing more (a headless read reached its end)."""
        rank = self._rank.get(source)
        if rank is not None:
            self._finished.add(rank)
            self._release()

    def _release(self) -> None:
        """Let go of the ids no copy can come for any more, and of the oldest beyond ``max_ids``."""
        waiting = [self._latest[r] for r in range(len(self.order)) if r not in self._finished]
        floor = (min(waiting) if waiting else float("inf")) - self.slack
        while self._heap and ((self._heap[0] + 1) * 60 <= floor or len(self._entries) > self.max_ids):
            early = (self._heap[0] + 1) * 60 > floor
            for request_id in self._minutes.pop(heapq.heappop(self._heap)):
                if self._entries.pop(request_id, None) is not None and early:
                    self.released_early += 1

    # -- as data (a checkpoint): the ids still awaited and the counts of shares, so that a restart
    #    neither counts twice a request whose copy comes after it nor forgets how the sources overlap

    def to_state(self) -> bytes:
        entries = [[request_id, *entry] for request_id, entry in self._entries.items()]
        return _ENCODE([list(self.order), entries, [[m, ids] for m, ids in self._minutes.items()], self._latest,
                        self.requests, [[a, b, n] for (a, b), n in self.shared.items()], self.released_early])

    def restore(self, state: bytes) -> bool:
        """Take the state of :meth:`to_state` (of the same sources, in the same order); False when it is
        not one (nothing is taken then)."""
        try:
            order, entries, minutes, latest, requests, shared, early = _DECODE(state)
        except msgspec.DecodeError:
            return False
        if tuple(order) != self.order:
            return False
        self._entries = {request_id: [owner, holders, copy, ts] for request_id, owner, holders, copy, ts in entries}
        self._minutes = {minute: list(ids) for minute, ids in minutes}
        self._heap = sorted(self._minutes)
        self._latest, self.requests = list(latest), list(requests)
        self.shared = {(a, b): n for a, b, n in shared}
        self.released_early = early
        return True

    def remembered(self) -> int:
        return len(self._entries)

    def status(self, source: str) -> dict[str, Any] | None:
        """What a source's status shows: its requests with an id and how many each other source also
        holds (None for a source that takes no part)."""
        rank = self._rank.get(source)
        if rank is None:
            return None
        shared = {self.order[a if b == rank else b]: n for (a, b), n in sorted(self.shared.items())
                  if rank in (a, b) and n}
        return {"requests": self.requests[rank], "shared": shared, "released_early": self.released_early}


_ENCODE = msgspec.msgpack.Encoder().encode
_DECODE = msgspec.msgpack.Decoder(tuple[list[str], list[tuple[str, int, int, UsageEvent | None, float]],
                                        list[tuple[int, list[str]]], list[float], list[int],
                                        list[tuple[int, int, int]], int]).decode


def _matchable(request_id: str | None) -> bool:
    """An id that names a request (a row number is only unique in its own table)."""
    return request_id is not None and not request_id.isdigit()


def _slim(event: UsageEvent, rank: int) -> UsageEvent | None:
    """A copy to take back later, kept only for a source an earlier one could still replace."""
    return None if rank == 0 else replace(event, raw=None)
