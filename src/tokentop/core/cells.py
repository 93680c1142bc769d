"""Cells: the counters of one span of time (a minute, an hour, a billing period, all time).

A span's requests are counted twice, in two families of cells, never in one cell per
(source, provider, model, user, platform): with a thousand users and tens of models nearly every
request of a minute would open a cell of its own, and ingest would cost a cell per request.

* ``by_key``: per (source, provider, model, platform) -- few values, so a cell per minute is cheap;
* ``by_user``: per (source, user).

No panel, rule or snapshot crosses users with models (group panels apply only their own field's
filter), so every grouping is folded from one family. Both families use the same five-slot key so
that the dimension indices below read either; a slot a family does not record holds ``ANY``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Final

from tokentop.core.counts import Counts, count_event
from tokentop.core.event import UNKNOWN, UsageEvent

Key = tuple[str, str, str, str, str]
"""(source, provider, model, user, platform)"""
SOURCE, PROVIDER, MODEL, USER, PLATFORM = range(5)
DIMENSIONS: Final = {"source": SOURCE, "provider": PROVIDER, "model": MODEL, "user": USER, "platform": PLATFORM}
NO_TAG: Final = ""
"""The platform of an event that names none."""
ANY: Final = NO_TAG
"""A slot the family does not record (the user in ``by_key``, everything but source and user in
``by_user``): read as untagged by anything that looks at it by mistake."""
KEY_FAMILY: Final = "by_key"
USER_FAMILY: Final = "by_user"


def family_of(dimension: str) -> str:
    """The family that records ``dimension`` (``source`` is in both: the key family is used)."""
    return USER_FAMILY if dimension == "user" else KEY_FAMILY


def key_of(e: UsageEvent) -> Key:
    return (e.source, e.provider, e.model, ANY, e.platform or NO_TAG)


def user_key_of(e: UsageEvent) -> Key:
    return (e.source, ANY, ANY, e.user or UNKNOWN, ANY)


class Cells:
    """One span's cells in both families (see the module docstring)."""

    __slots__ = ("by_key", "by_user", "folded")

    def __init__(self) -> None:
        self.by_key: dict[Key, Counts] = {}
        self.by_user: dict[Key, Counts] = {}
        self.folded = False
        """For hour cells: already merged into the all-time and period cells (late events for this
        hour must then be counted there too)."""

    def family(self, name: str) -> dict[Key, Counts]:
        return self.by_user if name == USER_FAMILY else self.by_key

    def add(self, e: UsageEvent, keys: tuple[Key, Key] | None = None) -> None:
        """Count one event in both families (under ``keys`` when given: its keys after the key cap)."""
        count_event(e, *self.pair(*(keys or (key_of(e), user_key_of(e)))))

    def pair(self, key: Key, user_key: Key) -> tuple[Counts, Counts]:
        """The cells of one event in both families, made when new (the ingest hot path)."""
        by_key, by_user = self.by_key, self.by_user
        cell = by_key.get(key)
        if cell is None:
            cell = by_key[key] = Counts()
        user_cell = by_user.get(user_key)
        if user_cell is None:
            user_cell = by_user[user_key] = Counts()
        return cell, user_cell

    def remove(self, e: UsageEvent, keys: tuple[Key, Key] | None = None) -> None:
        key, user_key = keys or (key_of(e), user_key_of(e))
        for family, key in ((self.by_key, key), (self.by_user, user_key)):
            if key in family:
                family[key].remove(e)

    def merge(self, other: Cells) -> None:
        for mine, theirs in ((self.by_key, other.by_key), (self.by_user, other.by_user)):
            for key, counts in theirs.items():
                self.cell(mine, key).merge(counts)

    @staticmethod
    def cell(family: dict[Key, Counts], key: Key) -> Counts:
        counts = family.get(key)
        if counts is None:
            counts = family[key] = Counts()
        return counts

    def __len__(self) -> int:
        return len(self.by_key) + len(self.by_user)


def items(cells: Iterable[Cells], family: str) -> Iterator[tuple[Key, Counts]]:
    """Every (key, counts) of one family across several spans."""
    for c in cells:
        yield from c.family(family).items()


def fold(cells: Iterable[tuple[Key, Counts]], by: Callable[[Key], Hashable | None]) -> dict[Hashable, Counts]:
    """Merge cells into one Counts per ``by(key)``; keys for which ``by`` returns None are left out."""
    out: dict[Hashable, Counts] = {}
    for key, counts in cells:
        name = by(key)
        if name is None:
            continue
        into = out.get(name)
        if into is None:
            into = out[name] = Counts()
        into.merge(counts)
    return out
