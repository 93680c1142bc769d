"""The key cap: how many distinct values of each dimension the aggregator keeps.

Names come from outside (a log line can name any user or model), and every distinct value costs
cells in every time bucket it appears in. Beyond ``limit`` distinct values of a dimension (users;
models; providers; platforms), the least-used values are folded into one value, :data:`OTHER`:
their cells are merged into ``(other)``'s, in every bucket, so every total stays exact and only the
breakdown loses detail.

* Up to ``limit`` values, every new value is held (:meth:`KeyCap.admit`; a key already checked costs
  one set lookup per event and family).
* Once a dimension is full, a new value is counted in ``(other)`` from its first event, and its
  usage is tallied apart: once it has used more than the least-used value kept at the last fold, it
  is held from then on (its earlier usage stays in ``(other)``). The tally holds ``limit`` values at
  most: when full, its less-used half is forgotten, so a value seen again before ``limit / 2`` other
  new values arrive keeps accumulating. A flood of one-off names thus costs a tally, not cells that
  are moved again later.
* After each batch the aggregator folds what :meth:`KeyCap.overfull` names: a dimension past
  ``limit`` plus a quarter is brought back to ``limit`` by :meth:`KeyCap.choose`, which folds the
  least used by all-time tokens, then requests, then the older last use; :func:`refold` rewrites the
  keys of every bucket.

Pinned values -- users with a configured plan or a limit reported by their endpoint -- are always
held. ``folded`` counts, per dimension, the names counted in ``(other)`` at least in part: folded
out, or never held (a name that comes back after its tally forgot it, or after it was folded out, is
counted again).

The state is plain data (:meth:`KeyCap.to_dict`) so that it can be saved and merged with the cells.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from tokentop.core.cells import ANY, KEY_FAMILY, MODEL, PLATFORM, PROVIDER, USER, USER_FAMILY, Key
from tokentop.core.counts import Counts

OTHER: Final = "(other)"
"""The value the least-used values of a dimension are folded into."""
DEFAULT_MAX_KEYS: Final = 10_000
CAPPED: Final = {"provider": PROVIDER, "model": MODEL, "platform": PLATFORM, "user": USER}
"""Dimension -> its slot in a cell key. ``source`` is not capped: sources are named by the user."""
_KEY_SLOTS: Final = (PROVIDER, MODEL, PLATFORM)
_NAMES: Final = {slot: name for name, slot in CAPPED.items()}

Usage = tuple[int, int, float]
"""(tokens, requests, last event time) of a value: what "least used" compares."""


def family_of_slot(slot: int) -> str:
    return USER_FAMILY if slot == USER else KEY_FAMILY


class KeyCap:
    """Which values each capped dimension holds, which are pinned, and how many were folded."""

    __slots__ = ("limit", "room", "known", "live", "pinned", "folded", "floor", "tally")

    def __init__(self, limit: int = DEFAULT_MAX_KEYS, pinned_users: Iterable[str] = ()) -> None:
        self.limit = limit
        self.room = limit + max(1, limit // 4)
        """Values a dimension may hold before it is folded back to ``limit``."""
        self.known: set[Key] = set()
        """Cell keys (both families) whose values are all held: the only per-event check."""
        self.live: dict[int, dict[str, bool]] = {slot: {} for slot in CAPPED.values()}
        """Values held per slot -> whether the value was already counted in ``folded`` (held after a tally)."""
        self.pinned: dict[int, set[str]] = {slot: set() for slot in CAPPED.values()}
        self.pinned[USER].update(pinned_users)
        self.folded: dict[str, int] = dict.fromkeys(CAPPED, 0)
        self.floor: dict[int, tuple[int, int] | None] = dict.fromkeys(CAPPED.values())
        """(tokens, requests) of the least-used value kept at the last fold: what a value counted in
        ``(other)`` must exceed to be held (None: never folded yet)."""
        self.tally: dict[int, dict[str, list[int]]] = {slot: {} for slot in CAPPED.values()}
        """Tokens and requests, since their first event, of values counted in ``(other)``."""

    # -- ingest -----------------------------------------------------------------------------------

    def admit(self, key: Key, tokens: int) -> Key:
        """The key an event of ``key`` (a key not in :attr:`known`) is counted under: each value is
        held if there is room for it, or once its tally passes the floor; else it is ``OTHER``."""
        counted: list[str] | None = None
        for slot in (USER,) if key[USER] != ANY else _KEY_SLOTS:
            value, live = key[slot], self.live[slot]
            if value == ANY or value == OTHER or value in live:
                continue
            if len(live) < self.limit or value in self.pinned[slot]:
                live[value] = False
            elif self._earned(slot, value, tokens):
                live[value] = True  # (counted in ``folded`` when its tally began: its first usage is in OTHER)
            else:
                counted = counted or list(key)
                counted[slot] = OTHER
        if counted is None:
            self.known.add(key)
            return key
        return tuple(counted)  # type: ignore[return-value]

    def _earned(self, slot: int, value: str, tokens: int) -> bool:
        """Tally an event of a value not held; True once it has used more than the floor."""
        floor, tally = self.floor[slot], self.tally[slot]
        seen = tally.get(value)
        if seen is None:
            if len(tally) >= self.limit:  # forget the less-used half (amortised: one sort per limit/2 names)
                kept = sorted(tally.items(), key=lambda item: item[1], reverse=True)[: self.limit // 2]
                tally.clear()
                tally.update(kept)
            seen = tally[value] = [0, 0]
            self.folded[_NAMES[slot]] += 1
        seen[0] += tokens
        seen[1] += 1
        if floor is None or (seen[0], seen[1]) <= floor:
            return False
        del tally[value]
        return True

    def pin(self, slot: int, value: str) -> None:
        """Never fold ``value`` (a user with a plan or a reported limit: their gauge must stay)."""
        self.pinned[slot].add(value)

    def overfull(self, down_to_limit: bool = False) -> list[int]:
        """The slots to fold now: those past their room (or, before a report, past the limit itself),
        and those just full that have no floor yet."""
        edge = self.limit if down_to_limit else self.room
        return [slot for slot, values in self.live.items()
                if len(values) > edge or (self.floor[slot] is None and len(values) >= self.limit)]

    # -- folding ----------------------------------------------------------------------------------

    def choose(self, slot: int, usage: Mapping[str, Usage]) -> set[str]:
        """Fold all but the ``limit`` most-used values of ``slot`` (pinned ones are kept): forget them
        and return them, for the caller to merge their cells into :data:`OTHER`."""
        live, pinned = self.live[slot], self.pinned[slot]
        unused: Usage = (0, 0, float("-inf"))
        ranked = sorted((usage.get(v, unused), v) for v in live if v not in pinned)
        excess = max(0, len(live) - self.limit)
        gone = {v for _, v in ranked[:excess]}
        least = ranked[excess][0] if len(ranked) > excess else (0, 0)  # (all pinned: nothing to beat)
        self.floor[slot] = (least[0], least[1])
        if not gone:
            return gone
        self.folded[_NAMES[slot]] += sum(not live[value] for value in gone)  # (each name counted once)
        for value in gone:
            del live[value]
        self.known.difference_update([k for k in self.known if k[slot] in gone])
        return gone

    def resolve(self, key: Key) -> Key:
        """Where an event of ``key`` is counted now: each folded (no longer held) value is OTHER."""
        if key in self.known:
            return key
        slots = (USER,) if key[USER] != ANY else _KEY_SLOTS
        parts = list(key)
        for slot in slots:
            value = parts[slot]
            if value != ANY and value not in self.live[slot] and value not in self.pinned[slot]:
                parts[slot] = OTHER
        return tuple(parts)  # type: ignore[return-value]

    # -- plain data (saving, merging) -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The state as plain data: the limit, per dimension the values held and pinned, the folded
        counts, the floor and the tally (so that a restored cap admits what the original would have).
        (``known`` is rebuilt from the cells it describes.)"""
        return {
            "limit": self.limit,
            "folded": dict(self.folded),
            "live": {name: dict(self.live[slot]) for name, slot in CAPPED.items()},
            "pinned": {name: sorted(self.pinned[slot]) for name, slot in CAPPED.items() if self.pinned[slot]},
            "floor": {name: list(self.floor[slot]) for name, slot in CAPPED.items() if self.floor[slot]},
            "tally": {name: {v: list(t) for v, t in self.tally[slot].items()}
                      for name, slot in CAPPED.items() if self.tally[slot]},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], keys: Iterable[Key] = ()) -> KeyCap:
        """The cap ``to_dict`` described, knowing the cell ``keys`` held with it."""
        cap = cls(int(data["limit"]))
        cap.merge_dict(data)
        cap.known.update(keys)
        return cap

    def merge_dict(self, data: Mapping[str, Any]) -> None:
        """Add another cap's state (a partial aggregate merged into this one): values held by
        either are held (the next fold brings the count back to the limit); folded counts and
        tallies add up; the higher floor is kept (a name must beat both sides' least-used)."""
        for name, slot in CAPPED.items():
            self.live[slot].update(data.get("live", {}).get(name, {}))
            self.pinned[slot].update(data.get("pinned", {}).get(name, ()))
            self.folded[name] += int(data.get("folded", {}).get(name, 0))
            if (floor := data.get("floor", {}).get(name)) is not None:
                mine = self.floor[slot]
                self.floor[slot] = max(mine, (floor[0], floor[1])) if mine else (floor[0], floor[1])
            tally = self.tally[slot]
            for value, (tokens, requests) in data.get("tally", {}).get(name, {}).items():
                if value not in self.live[slot]:
                    seen = tally.setdefault(value, [0, 0])
                    seen[0] += tokens
                    seen[1] += requests


def usage_by(cells: Iterable[tuple[Key, Counts]], slot: int) -> dict[str, Usage]:
    """All-time (tokens, requests, last event) per value of ``slot`` from a family's cells."""
    totals: dict[str, list[Any]] = {}
    for key, counts in cells:
        value = key[slot]
        into = totals.get(value)
        if into is None:
            totals[value] = [counts.total_tokens, counts.requests, counts.last_ts]
        else:
            into[0] += counts.total_tokens
            into[1] += counts.requests
            if counts.last_ts > into[2]:
                into[2] = counts.last_ts
    return {value: (t[0], t[1], t[2]) for value, t in totals.items()}


def refold(family: dict[Key, Counts], slot: int, gone: set[str]) -> None:
    """Merge the cells of the ``gone`` values of ``slot`` into their :data:`OTHER` cells, in place."""
    for key in [k for k in family if k[slot] in gone]:
        counts = family.pop(key)
        other: Key = (*key[:slot], OTHER, *key[slot + 1:])  # type: ignore[assignment]
        into = family.get(other)
        if into is None:
            family[other] = counts
        else:
            into.merge(counts)
