"""The cached reading of common UTC times gives exactly what ``datetime`` gives, or declines."""

from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest

from tokentop.core import timeparse
from tokentop.core.normalise import NormaliseOptions, Normaliser
from tokentop.core.timeparse import parse_time, utc_iso


def exact(text: str) -> float:
    parsed = datetime.fromisoformat(text)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


def test_cached_times_are_bit_for_bit_what_datetime_gives() -> None:
    rng = random.Random(5)
    for _ in range(20_000):
        moment = datetime.fromtimestamp(rng.uniform(0, 8_000_000_000), timezone.utc)
        text = moment.isoformat(timespec=rng.choice(["seconds", "milliseconds", "microseconds"]))
        text = text.replace("+00:00", rng.choice(["Z", "+00:00", ""])).replace("T", rng.choice("T "))
        got = utc_iso(text)
        assert got is not None and got == exact(text), text
        assert utc_iso(text) == got  # and again, from the caches
        assert parse_time(text) == got  # the general way agrees


def test_the_normaliser_reads_times_as_datetime_does() -> None:
    # Every spelling of a time (UTC or a local offset, T or space, 0-6 fraction digits), read twice (a
    # cache must not change the second reading), comes out as datetime reads it.
    normaliser = Normaliser(NormaliseOptions(source="s"))
    rng = random.Random(9)
    for _ in range(5_000):
        moment = datetime.fromtimestamp(rng.uniform(0, 8_000_000_000), timezone.utc)
        text = moment.isoformat(timespec=rng.choice(["seconds", "milliseconds", "microseconds"]))
        text = text.replace("+00:00", rng.choice(["Z", "+00:00", "", "+02:00", "-05:30"])).replace("T", rng.choice("T "))
        for _ in range(2):
            event = normaliser.from_record({"ts": text, "model": "m", "prompt_tokens": 1}, 0.0)
            assert event is not None and event.ts == exact(text) and not event.time_inferred, text


@pytest.mark.parametrize("text", [
    "2026-11-02T08:00:60Z", "2026-02-30T08:00:01Z", "2026-11-02T24:00:00Z", "2026-11-02T08:00:01.Z",
    "2026-11-02T08:00:01.1234567Z", "2026-11-02T08:00:01+02:00", "２026-11-02T08:00:01Z", "2026-11-02T08:00:0１Z",
    " 2026-11-02T08:00:01Z", "1969-12-31T23:59:59Z", "2300-01-01T00:00:00Z", "Nov 2 2026", "",
])
def test_anything_else_is_left_to_the_general_way(text: str) -> None:
    assert utc_iso(text) is None


def test_caches_stay_bounded() -> None:
    for minute in range(timeparse._CACHE_LIMIT + 10):  # noqa: SLF001
        utc_iso(datetime.fromtimestamp(minute * 60, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert len(timeparse.MINUTES) <= timeparse._CACHE_LIMIT  # noqa: SLF001


@pytest.mark.parametrize("value", [
    "2025-06-01T10:00:00Z", "2025-06-01 10:00:00", "2025-06-01T10:00:59.999999Z", "2025-06-01T10:00:00.1+00:00",
    "2025-06-01T10:00:00.12", "2025-06-01T10:00:00.1234567Z", "2025-06-01T10:00:00+01:00", "2025-06-01T10:00:60Z",
    "2025-02-30T10:00:00Z", "2025-06-01T10:00:00Z ", " 2025-06-01T10:00:00Z", "2025-06-01T10:00:00.Z",
    "2025-06-01T10:00:0١Z", "2025-06-01t10:00:00z", "1970-01-01T00:00:00Z", "2999-12-31T23:59:59.999999Z",
    "2254-06-01T10:00:00.000001Z", "2300-06-01T10:00:00.000001Z", "20250601T10:00:00Z", "1790000000", "",
])
def test_edge_times_are_cached_exactly_or_declined(value: str) -> None:
    for _ in range(2):  # learning, then from the caches
        got = utc_iso(value)
        if got is not None:
            assert repr(got) == repr(exact(value)), value
