"""A bounded map of recently seen keys, for the per-source state formats keep (stream ids, dedupe keys).

Two generations of plain dicts: lookups that hit the old generation are promoted, and when the
current generation is full the old one is dropped whole. Memory stays below ``2 * size`` entries and
every operation is O(1) -- an approximate LRU at a fraction of OrderedDict's per-entry cost.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class RecentMap(Generic[V]):
    """Keeps at least the ``size`` most recently used keys (and never more than ``2 * size``)."""

    __slots__ = ("size", "_new", "_old")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self._new: dict[Hashable, V] = {}
        self._old: dict[Hashable, V] = {}

    def get(self, key: Hashable) -> V | None:
        value = self._new.get(key)
        if value is None:
            value = self._old.pop(key, None)
            if value is not None:
                self[key] = value
        return value

    def __setitem__(self, key: Hashable, value: V) -> None:
        new = self._new
        if key not in new and len(new) >= self.size:
            self._old, self._new = new, {}
            new = self._new
        new[key] = value

    def update(self, items: dict[Hashable, V]) -> None:
        """``self[key] = value`` for each item, faster: the generations turn over before the batch
        rather than in it (still at least ``size`` recent keys kept, never more than ``2 * size``)."""
        new = self._new
        if len(new) + len(items) <= self.size:
            new.update(items)
        elif len(items) <= self.size:
            self._old, self._new = new, dict(items)
        else:
            for key, value in items.items():
                self[key] = value

    def pop(self, key: Hashable) -> V | None:
        value = self._new.pop(key, None)
        older = self._old.pop(key, None)
        return older if value is None else value

    def peek(self, key: Hashable) -> V | None:
        """``get`` without counting as a use (the key is not promoted)."""
        value = self._new.get(key)
        return self._old.get(key) if value is None else value

    def newest(self, count: int) -> list[Hashable]:
        """The ``count`` most recently used keys (or all), newest last."""
        keys = [*self._old, *self._new]
        return keys[-count:] if count < len(keys) else keys

    def __len__(self) -> int:
        return len(self._new) + len(self._old)
