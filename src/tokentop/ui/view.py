"""What panels need besides the Snapshot: the time, the timezone, the palette and the filter."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Final

from tokentop.core.event import UsageEvent
from tokentop.ui.theming import Palette

FILTER_FIELDS: Final = ("user", "provider", "model", "platform", "source")


@dataclass(frozen=True, slots=True)
class Filter:
    """``alice model:gpt``: bare words match any field of a request; ``field:value`` one field.

    All terms must match (case-insensitive substrings). Group panels apply only the terms for their
    own field (``user:`` narrows the users panel, ``provider:``/``model:`` the providers panel).
    """

    text: str = ""
    words: tuple[str, ...] = ()
    fields: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Filter:
        words: list[str] = []
        fields: list[tuple[str, str]] = []
        for term in text.lower().split():
            name, colon, value = term.partition(":")
            if colon and name in FILTER_FIELDS and value:
                fields.append((name, value))
            else:
                words.append(term)
        return cls(text.strip(), tuple(words), tuple(fields))

    def __bool__(self) -> bool:
        return bool(self.words or self.fields)

    def matches_event(self, e: UsageEvent) -> bool:
        values = {"user": e.user or "", "provider": e.provider, "model": e.model,
                  "platform": e.platform or "", "source": e.source}
        lowered = {k: v.lower() for k, v in values.items()}
        if any(value not in lowered[name] for name, value in self.fields):
            return False
        return all(any(word in v for v in lowered.values()) for word in self.words)

    def matches_name(self, field_name: str, name: str) -> bool:
        """For group panels: only this field's own terms apply."""
        lowered = name.lower()
        return all(value in lowered for f, value in self.fields if f == field_name)


@dataclass(frozen=True, slots=True)
class ViewContext:
    now: float
    tz: tzinfo | None
    palette: Palette = field(default_factory=lambda: Palette.from_variables({}))
    filter: Filter = field(default_factory=Filter)
    partial: bool = False
    """History is still being read: usage figures are lower bounds (shown with ``≥``)."""
