"""Property-based tests (hypothesis) of what reads untrusted bytes: the line decoder and every format.

For any input: no exception escapes, and none reaches the decoder's safety net (a ``bad_record``
skip is a format that did not expect its input); every line is accounted for (an event or a counted skip, for
records that hold one request); no count is negative, no cost or time is NaN or infinite; chunk
boundaries do not matter. The number of examples is set by the hypothesis profile (tests/conftest.py:
``HYPOTHESIS_PROFILE=thorough`` for a long run); ``benchmarks/fuzz.py`` runs a million mutated lines
through the whole ``snapshot`` command.
"""

from __future__ import annotations

import json
import math
import unicodedata
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from tokentop.core.aggregate import Aggregator
from tokentop.core.event import SkipRecord, UsageEvent
from tokentop.core.formats import DETECT_KEYS, FORMATS
from tokentop.core.lines import LineDecoder
from tokentop.core.normalise import NormaliseOptions, Normaliser
from tokentop.core.sanitize import visible
from tokentop.report import FORMULA_LEADS, csv_cell

READ_TIME = 1_790_000_000.0
FIXTURES = Path(__file__).resolve().parent.parent / "formats" / "fixtures"
COUNTS = ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "cache_write_tokens",
          "reasoning_tokens")
FORMAT_KEYS = frozenset().union(*DETECT_KEYS.values())
"""Top-level keys that make another format than ``app`` look at a record."""

# -- strategies -------------------------------------------------------------------------------------------

HOSTILE_NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, -0.0, 1e308, 2**63, 2**64 + 1, 100_000_001, 0.5, 1.0, float("nan"), float("inf")]),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-5", " 12 ", "0x10", "", "١٢٣", "12abc"]),
    st.none(), st.booleans(),
)
HOSTILE_TEXT = st.one_of(
    st.text(max_size=40), st.sampled_from(["", " ", "\x00", "\x1b]0;x\x07", "\u202e", "[/]", "=1+1", "\ud7ff"]),
)
TIMES = st.one_of(
    st.floats(min_value=-1e12, max_value=1e12), st.integers(min_value=-(2**63), max_value=2**63),
    st.sampled_from(["2026-09-21T14:13:20Z", "2026-02-30T00:00:00Z", "9999-12-31T23:59:59Z", "0", "-1",
                     "1790000000000", "yesterday", "2026-09-21 14:13:20.123456789+14:00", "T", "NaN"]),
    st.none(),
)
APP_KEYS = ["ts", "timestamp", "created_at", "user", "user_id", "provider", "model", "prompt_tokens",
            "completion_tokens", "total_tokens", "input_tokens", "output_tokens", "cached_tokens", "cost",
            "cost_usd", "latency_ms", "status", "error", "token_source", "platform", "usage", "metadata"]


def app_value(key: str) -> st.SearchStrategy[Any]:
    if key in ("ts", "timestamp", "created_at"):
        return TIMES
    if key in ("usage", "metadata"):
        return st.dictionaries(st.sampled_from(APP_KEYS[:14] + ["prompt_tokens_details"]),
                               st.one_of(HOSTILE_NUMBERS, HOSTILE_TEXT), max_size=5)
    return st.one_of(HOSTILE_NUMBERS, HOSTILE_TEXT)


ODD_KEYS = st.one_of(st.text(max_size=12), st.sampled_from(["late\ncyMs", 'a"b', "c\\d", "\x00", "tab\tkey", "é"])
                     ).filter(lambda k: k not in FORMAT_KEYS)
APP_RECORDS = st.tuples(
    st.lists(st.sampled_from(APP_KEYS), unique=True, max_size=10).flatmap(
        lambda keys: st.fixed_dictionaries({k: app_value(k) for k in keys})),
    st.dictionaries(ODD_KEYS, st.one_of(HOSTILE_NUMBERS, HOSTILE_TEXT), max_size=2),
).map(lambda parts: {**parts[1], **parts[0]})
"""Hand-made gateway records (no key another format detects) with hostile values, and now and then
keys no format knows (with quotes, backslashes, controls ...)."""


def encode(record: dict[str, Any]) -> bytes:
    """As a writer would: big integers as they are, NaN and Infinity as bare words (not strict JSON),
    lone surrogates as ``\\ud800`` escapes."""
    return json.dumps(record, allow_nan=True).encode("ascii")


LINES = st.one_of(
    APP_RECORDS.map(encode),
    st.binary(max_size=200),
    APP_RECORDS.map(encode).flatmap(lambda line: st.tuples(st.just(line), st.integers(0, max(len(line) - 1, 0)),
                                                          st.binary(max_size=3))
                                    .map(lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + 1:])),  # one byte flipped
    st.sampled_from([b"", b"   ", b"\r", b"{}", b"[]", b"null", b"\xef\xbb\xbf{}", b"{" * 50, b"[" * 2000,
                     b'{"prompt_tokens": 1e999}', b'{"a": NaN}', b'"\\ud800"', b"\x00" * 10,
                     b'{"prompt_tokens": 1' + b"0" * 5000 + b"}"]),
)


# -- checks -----------------------------------------------------------------------------------------------

def assert_sane(event: UsageEvent) -> None:
    for name in COUNTS:
        value = getattr(event, name)
        assert isinstance(value, int) and value >= 0, (name, value)
    assert event.cached_tokens + event.cache_write_tokens <= max(event.prompt_tokens, 0) or event.mismatched \
        or True  # (the subsets are as reported; only signs and finiteness are promised)
    assert math.isfinite(event.ts)
    assert event.cost is None or (math.isfinite(event.cost) and event.cost >= 0), event.cost
    assert event.latency_ms is None or (math.isfinite(event.latency_ms) and event.latency_ms >= 0)


def assert_totals_sane(events: list[UsageEvent]) -> None:
    agg = Aggregator(max_keys=20)
    agg.add_many(events)
    totals = agg.totals("all", READ_TIME)
    for name in COUNTS + ("requests",):
        assert getattr(totals, name) >= 0
    assert math.isfinite(totals.cost) and totals.cost >= 0
    assert totals.requests == len(events)
    assert totals.total_tokens == sum(e.total_tokens for e in events)


def decode_each(lines: list[bytes], normaliser: Normaliser) -> tuple[list[UsageEvent], list[int], list[int]]:
    """Decode line by line: the events, and per line the events and skips it gave."""
    skips: list[SkipRecord] = []
    decoder = LineDecoder(normaliser, skips.append, max_line=64 * 1024)
    events, made, skipped = [], [], []
    unexpected = []
    for line in lines:
        before = len(skips)
        found = decoder.decode([line], READ_TIME)  # (must never raise)
        events += found
        made.append(len(found))
        skipped.append(len(skips) - before)
        # ``bad_record`` is the decoder's safety net for an exception a format did not expect: a bug
        unexpected += [(str(s), line) for s in skips[before:] if s.reason == "bad_record"]
    assert not unexpected, unexpected[:3]
    return events, made, skipped


# -- the line decoder (detection, the app format's fast paths, normalisation) -----------------------------

@given(st.lists(LINES, max_size=25))
def test_any_lines_give_an_event_or_a_counted_skip_each(lines):
    lines = [line.replace(b"\n", b" ") for line in lines]  # (one line each; newlines are the decoder's)
    events, made, skipped = decode_each(lines, Normaliser(NormaliseOptions(source="s")))
    for line, n, s in zip(lines, made, skipped):
        blank = not line.strip() or line.strip() == b"\r"
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            record = None
        claimed = isinstance(record, dict) and not FORMAT_KEYS.isdisjoint(record)
        if blank:
            assert n + s == 0
        elif not claimed:  # one request per record: exactly one event or one counted skip
            assert n + s == 1, (line, n, s)
    for event in events:
        assert_sane(event)
    assert_totals_sane(events)


@given(st.lists(APP_RECORDS.map(encode), min_size=1, max_size=20), st.lists(st.integers(1, 400), max_size=6))
def test_chunk_boundaries_do_not_change_what_is_read(lines, cuts):
    data = b"".join(line.replace(b"\n", b" ") + b"\n" for line in lines)
    whole, _, _ = decode_each(data.splitlines(), Normaliser(NormaliseOptions(source="s", keep_raw=False)))
    skips: list[SkipRecord] = []
    decoder = LineDecoder(Normaliser(NormaliseOptions(source="s", keep_raw=False)), skips.append)
    pieces, rest, at = [], b"", 0
    for cut in [*sorted(set(cuts)), len(data)]:
        found, rest = decoder.decode_chunk(rest + data[at:cut], READ_TIME)
        pieces += found
        at = max(at, cut)
    pieces += decoder.decode([rest], READ_TIME)

    def key(e: UsageEvent) -> tuple[Any, ...]:
        return (e.ts, e.user, e.model, e.total_tokens, e.cost)

    assert [key(e) for e in pieces] == [key(e) for e in whole]


# -- every format, forced, on its own records with hostile values ---------------------------------------------

def fixture_lines() -> dict[str, list[dict[str, Any]]]:
    """The fixture records each format reads by itself, one complete request per line."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(FIXTURES.glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            skips: list[SkipRecord] = []
            found = LineDecoder(Normaliser(NormaliseOptions(source="s")), skips.append).decode([line], READ_TIME)
            if len(found) == 1 and not skips:
                out.setdefault(found[0].format, []).append(orjson.loads(line))
    return out


COMPLETE = fixture_lines()
MUTABLE_TEXT = ("model", "user", "id", "created", "time", "date", "ts", "timestamp", "modelVersion")


def mutate(record: Any, choices: st.DataObject, path: str = "") -> Any:
    """The record with some leaves replaced by hostile values: every number, and text under keys that
    hold names or times (never the discriminating keys a format detects its records by)."""
    if isinstance(record, dict):
        return {k: mutate(v, choices, f"{path}.{k}") for k, v in record.items()}
    if isinstance(record, list):
        return [mutate(v, choices, path) for v in record]
    leaf = path.rsplit(".", 1)[-1]
    replace = choices.draw(st.booleans(), label=f"mutate {path}")
    if replace and isinstance(record, (int, float)) and not isinstance(record, bool):
        return choices.draw(HOSTILE_NUMBERS, label=path)
    if replace and isinstance(record, str) and any(word in leaf.lower() for word in MUTABLE_TEXT):
        return choices.draw(st.one_of(HOSTILE_TEXT, TIMES), label=path)
    return record


@given(st.sampled_from(sorted(COMPLETE)), st.data())
def test_every_format_accounts_for_each_request_whatever_its_values(fmt, data):
    record = mutate(data.draw(st.sampled_from(COMPLETE[fmt]), label="fixture"), data)
    line = encode(record)
    events, made, skipped = decode_each([line], Normaliser(NormaliseOptions(source="s", format=fmt)))
    assert made[0] + skipped[0] >= 1, (fmt, line)  # an event, or a counted skip: never silence
    if fmt not in ("otel",):  # (an OTLP export holds several spans, each an event or a skip)
        assert made[0] + skipped[0] == 1, (fmt, line, made, skipped)
    for event in events:
        assert_sane(event)
    assert_totals_sane(events)


@given(st.sampled_from(sorted(FORMATS)), st.lists(st.one_of(LINES, APP_RECORDS.map(encode)), max_size=10))
def test_every_format_survives_any_bytes(fmt, lines):
    events, _, _ = decode_each([line.replace(b"\n", b" ") for line in lines],
                               Normaliser(NormaliseOptions(source="s", format=fmt)))
    for event in events:
        assert_sane(event)
    assert_totals_sane(events)


# -- what is shown of untrusted text -------------------------------------------------------------------------

@given(st.text())
def test_visible_text_is_always_printable_and_encodable(text):
    shown = visible(text)
    shown.encode("utf-8")  # (lone surrogates are escaped: an output stream can always write it)
    assert not [ch for ch in shown if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs")]
    cell = csv_cell(text)
    assert not cell.startswith(FORMULA_LEADS) and not cell.startswith(("\t", "\r"))
