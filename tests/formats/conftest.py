"""Helpers: normalise a fixture file the way a line-based source does, with or without retractions."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokentop.core.event import SkipRecord, UsageEvent, event_to_dict
from tokentop.core.lines import LineDecoder
from tokentop.core.normalise import NormaliseOptions, Normaliser
from tokentop.core.pricing import shipped_table

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_lines(name: str) -> list[bytes]:
    return [line for line in (FIXTURES / name).read_bytes().split(b"\n") if line.strip()]


def normalise(lines: list[bytes], fmt: str | None = None, per_line: bool = False,
              skips: list[SkipRecord] | None = None) -> list[UsageEvent]:
    """The events a source would leave in an aggregator: emitted minus retracted.

    ``per_line`` delivers every line as its own batch, so superseding goes through retractions
    instead of in-place updates; both ways must give the same result.
    """
    normaliser = Normaliser(NormaliseOptions(source="t", format=fmt), cost_of=shipped_table().cost)
    decoder = LineDecoder(normaliser, (skips if skips is not None else []).append)
    kept: list[UsageEvent] = []
    for batch in ([line] for line in lines) if per_line else [lines]:
        kept += decoder.decode(batch, read_time=1_800_000_000.0)
        for gone in decoder.take_retractions():
            match = event_to_dict(gone)
            index = next(i for i, e in enumerate(kept) if event_to_dict(e) == match)
            del kept[index]
    return kept


def pick(event: UsageEvent, *names: str) -> dict:
    data = event_to_dict(event)
    return {n: data[n] for n in names}


COUNTS = ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "cache_write_tokens",
          "reasoning_tokens", "token_source")


@pytest.fixture(params=[False, True], ids=["one-batch", "per-line"])
def per_line(request) -> bool:
    return request.param
