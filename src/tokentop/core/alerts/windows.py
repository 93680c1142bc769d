"""Read-only queries the rules share: cells of arbitrary windows (in seconds, not only the named
``5m``/``1h``/``24h`` ones) folded by any function of the cell key, dimension values, and per-source
facts computed once per evaluation."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator

from tokentop.core.aggregate import Aggregator
from tokentop.core.cells import DIMENSIONS, KEY_FAMILY, MODEL, NO_TAG, PROVIDER, SOURCE, USER_FAMILY, Key
from tokentop.core.alerts.model import Situation
from tokentop.core.counts import Counts
from tokentop.core.event import UNKNOWN


def cells_between(agg: Aggregator, start: float, end: float, family: str = KEY_FAMILY
                  ) -> Iterator[tuple[Key, Counts]]:
    """Cells of the minutes (and, before the minutes, hours) overlapping ``[start, end]``.

    Resolution is one bucket: a window includes the whole minute (or hour) its edges fall in.
    """
    return agg.cells_between(start, end, family)


def tokens_per_minute(
    agg: Aggregator, by: Callable[[Key], Hashable | None], last_minute: int, minutes: int, family: str = KEY_FAMILY
) -> dict[Hashable, list[int]]:
    """Total tokens per minute for each ``by(key)`` over the ``minutes`` ending at ``last_minute``."""
    first = last_minute - minutes + 1
    out: dict[Hashable, list[int]] = {}
    for minute, key, counts in agg.minute_cells(first, last_minute, family):
        name = by(key)
        if name is None:
            continue
        series = out.get(name)
        if series is None:
            series = out[name] = [0] * minutes
        series[minute - first] += counts.total_tokens
    return out


def dimension_value(key: Key, dim: str) -> str | None:
    """The value a cell key has in ``dim`` (``provider/model`` for models); None when untagged."""
    if dim == "model":
        return f"{key[PROVIDER]}/{key[MODEL]}"
    value = key[DIMENSIONS[dim]]
    return None if value == NO_TAG else value


def known(value: Hashable) -> bool:
    return value is not None and value not in (UNKNOWN, NO_TAG) and not str(value).startswith(f"{UNKNOWN}/")


def counter_sources(s: Situation) -> set[str]:
    """Sources whose events are per-user counter deltas (usage endpoints): they never name a provider."""

    def find() -> set[str]:
        names = {src.name for src in s.sources if src.kind == "http"}
        names.update(e.source for e in s.agg.recent if e.format == "endpoint")
        return names

    return s.memo("counter_sources", find)


def source_profiles(s: Situation) -> tuple[dict[str, float], set[tuple[str, str]]]:
    """Each source's first event time, and the dimensions it has recorded a value of (one pass over
    the all-time cells, shared by the rules of one evaluation)."""
    return s.memo("source_profiles", lambda: _profiles(s))


def _profiles(s: Situation) -> tuple[dict[str, float], set[tuple[str, str]]]:
    """In one pass over the all-time cells: each source's first event time, and the dimensions it
    has recorded a value of."""
    first: dict[str, float] = {}
    recorded: set[tuple[str, str]] = set()
    for family, dims in ((KEY_FAMILY, ("provider", "model", "platform")), (USER_FAMILY, ("user",))):
        for key, counts in s.agg.all_cells(family):
            source = key[SOURCE]
            if counts.first_ts < first.get(source, float("inf")):
                first[source] = counts.first_ts
            for dim in dims:
                if (source, dim) not in recorded and known(dimension_value(key, dim)):
                    recorded.add((source, dim))
    return first, recorded
