"""The aggregator as data: saved in checkpoints, handed back by backfill workers, merged.

Everything the screen, snapshots and alerts are built from is in the state: the hour, minute, period
and all-time cells, the recent ring, the per-user calendar-period tallies, reported limits and
counter readings. Caches (period bounds, the current bucket) are not: they are rebuilt on use.

:func:`merge` adds one aggregator's counts to another's -- what reading their events into one
aggregator would have given, in any order (the workers of a parallel backfill each read a share of
the files). A new kind of aggregated state goes in :class:`AggregatorState`, :func:`to_state`,
:func:`from_state` and :func:`merge` together, and bumps ``STATE_VERSION``. The key cap's state goes
with the cells it describes: merged, the values either side held are held, and the result is folded
back to the cap (:mod:`tokentop.core.keycap`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from itertools import chain
from operator import attrgetter
from typing import TYPE_CHECKING, Final

import msgspec

from tokentop.core.cells import Cells, Key
from tokentop.core.counts import Counts
from tokentop.core.event import CounterReading, UsageEvent
from tokentop.core.keycap import DEFAULT_MAX_KEYS
from tokentop.core.plans import PlanBook
from tokentop.core.readings import ReadingHistory

if TYPE_CHECKING:
    from tokentop.core.aggregate import Aggregator

STATE_VERSION: Final = 2
_TS = attrgetter("ts")
_AT = attrgetter("at")


class CellsState(msgspec.Struct, array_like=True, gc=False):
    by_key: list[tuple[Key, Counts]]
    by_user: list[tuple[Key, Counts]]
    folded: bool = False


class AggregatorState(msgspec.Struct, gc=False):
    version: int
    billing: tuple[str, str, int]
    """The billing period (kind, time zone, hours) the hour buckets were split by."""
    hour_retention: int
    total: CellsState
    periods: list[tuple[float, CellsState]]
    hours: list[tuple[int, float, CellsState]]
    minutes: list[tuple[int, CellsState]]
    minute_floor: float
    high_hour: int
    recent: list[UsageEvent]
    events: int
    latest_ts: float
    limits: list[tuple[str, int | None, str | None]]
    period_tokens: list[tuple[str, float, dict[str, int]]]
    readings: list[tuple[str, str, list[CounterReading]]]
    keycap: dict[str, Any] = msgspec.field(default_factory=dict)
    """The key cap's values held and pinned, and folded counts (``KeyCap.to_dict``)."""


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(AggregatorState)


def encode(state: AggregatorState) -> bytes:
    return _ENCODER.encode(state)


def decode(data: bytes) -> AggregatorState:
    """The state in ``data``; raises ``msgspec.DecodeError`` (a ValidationError too) when it is not one."""
    return _DECODER.decode(data)


def billing_of(plans: PlanBook) -> tuple[str, str, int]:
    period = plans.billing_period
    return (period.kind, period.tz.key, period.hours)


def _cells_state(cells: Cells) -> CellsState:
    # (items() copied: the state may be encoded in another thread while the app ingests)
    return CellsState(list(cells.by_key.items()), list(cells.by_user.items()), cells.folded)


def _cells(state: CellsState) -> Cells:
    cells = Cells()
    cells.by_key, cells.by_user, cells.folded = dict(state.by_key), dict(state.by_user), state.folded
    return cells


def to_state(agg: Aggregator) -> AggregatorState:
    """The aggregator's state. It shares the Counts of the live cells: encode it before the
    aggregator counts anything more (the app holds its aggregator lock meanwhile)."""
    agg._merge_late()
    return AggregatorState(
        version=STATE_VERSION,
        billing=billing_of(agg.plans),
        hour_retention=agg.hour_retention,
        total=_cells_state(agg.total),
        periods=[(start, _cells_state(c)) for start, c in agg.periods.items()],
        hours=[(hour, start, _cells_state(c)) for (hour, start), c in agg.hours.items()],
        minutes=[(minute, _cells_state(c)) for minute, c in agg.minutes.items()],
        minute_floor=agg.minute_floor,
        high_hour=agg._high_hour,
        recent=_ring_events(agg),
        events=agg.events,
        latest_ts=agg.latest_ts,
        limits=[(user, limit, plan) for user, (limit, plan) in agg._limits.items()],
        period_tokens=[(user, start, dict(tally)) for (user, start), tally in agg._period_tokens.items()],
        readings=[(source, user, list(history)) for (source, user), history in agg.readings.items()],
        keycap=agg.keycap.to_dict(),
    )


def from_state(state: AggregatorState, plans: PlanBook, clock: Callable[[], float] | None = None,
               recent: int = 1000, max_keys: int = DEFAULT_MAX_KEYS) -> Aggregator:
    """An aggregator holding ``state``; ValueError when the state was not made with these plans'
    billing period (its hour buckets would be split at other boundaries). Under a lower ``max_keys``
    than the state's, the least-used values are folded now."""
    from tokentop.core.aggregate import Aggregator

    if state.version != STATE_VERSION:
        raise ValueError(f"aggregator state version {state.version}, expected {STATE_VERSION}")
    agg = Aggregator(plans, recent=recent, clock=clock, max_keys=max_keys)
    if state.billing != billing_of(plans) or state.hour_retention != agg.hour_retention:
        raise ValueError("aggregator state made with another billing period or plans")
    agg.total = _cells(state.total)
    agg.periods = {start: _cells(c) for start, c in state.periods}
    agg.hours = {(hour, start): _cells(c) for hour, start, c in state.hours}
    agg.minutes = {minute: _cells(c) for minute, c in state.minutes}
    agg.minute_floor, agg._high_hour = state.minute_floor, state.high_hour
    _fill_rings(agg, state.recent)
    agg.events, agg.latest_ts = state.events, state.latest_ts
    agg._limits = {user: (limit, plan) for user, limit, plan in state.limits}
    agg._period_tokens = {(user, start): dict(tally) for user, start, tally in state.period_tokens}
    for source, user, readings in state.readings:
        history = agg.readings[(source, user)] = ReadingHistory()
        history._items = list(readings)
    agg.keycap.merge_dict(state.keycap)
    for cells in agg.every_cells():  # every value of a held cell key is held (or is OTHER)
        agg.keycap.known.update(cells.by_key)
        agg.keycap.known.update(cells.by_user)
    if agg.keycap.overfull():
        agg.fold_keys()
    return agg


def merge(into: Aggregator, other: Aggregator) -> None:
    """Add ``other``'s counts to ``into`` (``other`` is consumed: its cells are taken over).

    An hour held by both is closed in the result if it was closed in either; the side where it was
    still open is then merged into the all-time and period cells now. Minutes are kept from the
    later of the two floors (each side's minutes are complete from its own floor on).
    """
    into._merge_late()
    other._merge_late()
    for key, theirs in other.hours.items():
        mine = into.hours.get(key)
        if mine is None:
            into.hours[key] = theirs
            continue
        if mine.folded != theirs.folded:
            still_open = theirs if mine.folded else mine
            into.total.merge(still_open)
            into.periods.setdefault(key[1], Cells()).merge(still_open)
        mine.merge(theirs)
        mine.folded = mine.folded or theirs.folded
    into.total.merge(other.total)
    for start, cells in other.periods.items():
        into.periods.setdefault(start, Cells()).merge(cells)
    into._close_hours(max(into._high_hour, other._high_hour))
    into._hour = (Cells(), 0.0, 0.0)
    floor = max(into.minute_floor, other.minute_floor)
    for minute, cells in other.minutes.items():
        if minute >= floor:
            mine = into.minutes.get(minute)
            if mine is None:
                into.minutes[minute] = cells
            else:
                mine.merge(cells)
    into._raise_floor(floor)  # type: ignore[arg-type]
    _merge_rest(into, other)
    into.keycap.merge_dict(other.keycap.to_dict())
    into.keycap.known.update(other.keycap.known)
    if into.keycap.overfull():
        into.fold_keys()


def _merge_rest(into: Aggregator, other: Aggregator) -> None:
    """Everything but the cells: the ring, counters, limits, per-user tallies, readings."""
    _fill_rings(into, sorted(chain(_ring_events(into), _ring_events(other)), key=_TS))
    into.events += other.events
    into.latest_ts = max(into.latest_ts, other.latest_ts)
    into._limits.update(other._limits)
    for key, tally in other._period_tokens.items():
        mine = into._period_tokens.setdefault(key, {})
        for source, tokens in tally.items():
            mine[source] = mine.get(source, 0) + tokens
    for key, history in other.readings.items():
        mine_history = into.readings.get(key)
        if mine_history is None:
            into.readings[key] = history
        else:
            mine_history._items = sorted(chain(mine_history, history), key=_AT)


def _ring_events(agg: Aggregator) -> list[UsageEvent]:
    """Every event the recent rings hold (the shared ring and each source's own), once, by time."""
    held = {id(e): e for ring in (agg.recent, *agg.recent_by_source.values()) for e in ring}
    return sorted(held.values(), key=_TS)


def _fill_rings(agg: Aggregator, events: list[UsageEvent]) -> None:
    """The rings as they would hold ``events`` (oldest first) added in time order."""
    agg.recent.clear()
    agg.recent_by_source.clear()
    agg._keep_recent(events)
