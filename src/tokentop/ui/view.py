"""What panels need besides the Snapshot: the time, the timezone, the palette and the filter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Final

from tokentop.core.counts import Counts
from tokentop.core.event import UsageEvent
from tokentop.ui.theming import Palette

FILTER_FIELDS: Final = ("user", "provider", "model", "platform", "source")


@dataclass(frozen=True, slots=True)
class Filter:
    """``alice model:gpt``: bare words match any field of a request; ``field:value`` one field.

    All terms must match (case-insensitive substrings). The requests panel applies every term. The
    group panels count requests by user, or by provider and model, so they apply the terms they can:
    ``user:`` narrows the users panel; ``provider:`` and ``model:`` narrow the providers panel in
    both its views (``model:gpt-4o`` by provider counts only each provider's GPT-4o requests).
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

    def terms(self, *field_names: str) -> str:
        """The terms of these fields as typed (``model:gpt-4o``): what narrows a group panel."""
        return " ".join(f"{name}:{value}" for name, value in self.fields if name in field_names)

    def matches_model_key(self, key: str) -> bool:
        """A ``provider/model`` key against the ``provider:`` and ``model:`` terms."""
        provider, _, model = key.partition("/")
        return self.matches_name("provider", provider) and self.matches_name("model", model)


def by_provider(models: Mapping[str, Counts], per_minute: Mapping[str, Sequence[int]], keep: Filter
                ) -> tuple[dict[str, Counts], dict[str, list[int]]]:
    """Providers' counts and tokens per minute folded from their ``provider/model`` groups that
    ``keep`` matches: the providers panel under a ``model:`` filter."""
    counts: dict[str, Counts] = {}
    series: dict[str, list[int]] = {}
    for key, c in models.items():
        if not keep.matches_model_key(key):
            continue
        provider = key.partition("/")[0]
        counts.setdefault(provider, Counts()).merge(c)
        minutes = per_minute.get(key, ())
        into = series.setdefault(provider, [0] * len(minutes))
        for i, tokens in enumerate(minutes[:len(into)]):
            into[i] += tokens
    return counts, series


@dataclass(frozen=True, slots=True)
class ViewContext:
    now: float
    tz: tzinfo | None
    palette: Palette = field(default_factory=lambda: Palette.from_variables({}))
    filter: Filter = field(default_factory=Filter)
    partial: bool = False
    """History is still being read: usage figures are lower bounds (shown with ``≥``)."""
