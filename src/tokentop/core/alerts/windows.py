"""Read-only queries over an Aggregator's time buckets for arbitrary windows (rules need windows in
seconds, not only the named ``5m``/``1h``/``24h`` ones), folded by any function of the cell key."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator

from tokentop.core.aggregate import Aggregator, Key
from tokentop.core.counts import Counts


def cells_between(agg: Aggregator, start: float, end: float) -> Iterator[tuple[Key, Counts]]:
    """Cells of the minutes (and, beyond the last hour, hours) overlapping ``[start, end]``.

    Resolution is one bucket: a window includes the whole minute (or hour) its edges fall in.
    """
    first_minute, last_minute = int(start // 60), int(end // 60)
    for minute, bucket in agg.minutes.items():
        if first_minute <= minute <= last_minute:
            yield from bucket.items()
    first_hour, last_hour = first_minute // 60, last_minute // 60
    for hour, bucket in agg.hours.items():
        if first_hour <= hour <= last_hour:
            yield from bucket.items()


def fold(
    cells: Iterator[tuple[Key, Counts]], by: Callable[[Key], Hashable | None]
) -> dict[Hashable, Counts]:
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


def tokens_per_minute(
    agg: Aggregator, by: Callable[[Key], Hashable | None], last_minute: int, minutes: int
) -> dict[Hashable, list[int]]:
    """Total tokens per minute for each ``by(key)`` over the ``minutes`` ending at ``last_minute``."""
    first = last_minute - minutes + 1
    out: dict[Hashable, list[int]] = {}
    for minute, bucket in agg.minutes.items():
        if not first <= minute <= last_minute:
            continue
        for key, counts in bucket.items():
            name = by(key)
            if name is None:
                continue
            series = out.get(name)
            if series is None:
                series = out[name] = [0] * minutes
            series[minute - first] += counts.total_tokens
    return out
