"""Record formats: each recognises its own records and maps them to UsageEvent fields.

A format is an object with a ``name``, ``detect(record) -> bool`` and ``extract(record)``. ``extract``
returns a dict of :class:`~tokentop.core.event.UsageEvent` field values (``ts`` may be any time value
the normaliser understands) or None when the record was absorbed into state (a stream still being
assembled, a duplicate line) and produces no event yet. Formats are instantiated once per source, so
a stateful format keeps its state per source.

``FORMATS`` lists them in detection order: specific shapes first, the hand-made ``app`` shape last.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

Fields = dict[str, Any]


class Format(Protocol):
    name: str

    def detect(self, record: Mapping[str, Any]) -> bool: ...

    def extract(self, record: Mapping[str, Any]) -> Fields | None: ...


def _app() -> Format:
    from tokentop.core.formats.app import AppFormat

    return AppFormat()


FORMATS: dict[str, Callable[[], Format]] = {
    "app": _app,
}
"""Format name -> factory, in detection order (``app`` must stay last: it accepts anything)."""


def make_formats(only: str | None = None) -> list[Format]:
    """Fresh format instances for one source; ``only`` forces a single format by name."""
    if only is not None:
        if only not in FORMATS:
            raise KeyError(only)
        return [FORMATS[only]()]
    return [factory() for factory in FORMATS.values()]
