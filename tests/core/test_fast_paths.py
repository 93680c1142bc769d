"""The ingest fast paths give exactly what the general path gives, on every shape the tests know.

* detection asks only the formats whose ``DETECT_KEYS`` a record has: the same format must win as
  when every format is tried in order;
* app-shaped JSON lines are decoded into a typed Struct: the same event (or the same skip) must come
  out as through orjson + detection + ``AppFormat.extract``.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tokentop.core.event import SkipRecord, UsageEvent, event_to_dict
from tokentop.core.formats import DETECT_KEYS, make_formats
from tokentop.core.formats.app import COUNTS, LABELS, USAGE_OBJECTS
from tokentop.core.formats.app_typed import convert_record, decode_line
from tokentop.core.normalise import NormaliseOptions, Normaliser

from . import test_bad_records

BAD_LINES: list[bytes] = [line for line, _ in test_bad_records.test_bad_record_reason.pytestmark[0].args[1]]

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "formats" / "fixtures"


def fixture_records() -> list[bytes]:
    return [line for path in sorted(FIXTURES.glob("*.jsonl")) for line in path.read_bytes().split(b"\n")
            if line.strip()]


def generated_lines(n: int) -> list[bytes]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from gen_jsonl import records
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return [orjson.dumps(record) for record in records(n)]


VALUES: list[Any] = [None, 0, 7, -1, 1.5, 2.0, "x", "", " ", "12", "-3", True, False, [], {}, 10**30,
                     "2026-09-21T14:13:20Z", 1_790_000_000, 1_790_000_000_000, {"message": "boom"},
                     {"prompt_tokens": 5, "completion_tokens": 2}, {"platform": "ios", "source": "chat"},
                     {"cached_tokens": 3, "reasoning_tokens": 1}]
KEYS = sorted({key for names in (*LABELS.values(), *COUNTS.values()) for key in names}
              | set(USAGE_OBJECTS) | set().union(*DETECT_KEYS.values())
              | {"metadata", "platform", "endpoint", "source", "status", "error", "type", "prompt_tokens_details",
                 "completion_tokens_details", "input_tokens_details", "output_tokens_details", "cache_creation",
                 "authorization", "other"})


def random_lines(n: int, seed: int = 7) -> list[bytes]:
    """Records mixing every spelling, discriminator and value kind (most of them are app records)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        record = {key: rng.choice(VALUES) for key in rng.sample(KEYS, rng.randrange(1, 10))}
        if rng.random() < 0.5:  # plausible records too, so the fast path engages often
            record.update({"model": "gpt-4o", "prompt_tokens": rng.randrange(100), "user": "u"})
        out.append(json.dumps(record).encode())  # json: orjson refuses ints beyond 64 bits
    return out


def outcome(normaliser: Normaliser, line: bytes) -> list[dict[str, Any]] | str:
    try:
        events = normaliser.events_from_line(line, read_time=1_800_000_000.0)
    except SkipRecord as skip:
        return f"skip: {skip.reason}: {skip.detail}"
    except Exception as exc:  # noqa: BLE001 - LineDecoder counts these as bad records: same for both
        return f"error: {type(exc).__name__}: {exc}"
    return [{**event_to_dict(e), "raw": e.raw} for e in events]


def general(options: NormaliseOptions) -> Normaliser:
    normaliser = Normaliser(options)
    normaliser._app_line = normaliser._app_record = None  # noqa: SLF001 - what the fast paths must match
    return normaliser


def all_lines() -> list[bytes]:
    return fixture_records() + BAD_LINES + generated_lines(600) + random_lines(4000)


def detects(fmt: Any, record: dict[str, Any]) -> bool:
    """detect(), where raising counts as claiming the record (the line then fails as a bad record)."""
    try:
        return bool(fmt.detect(record))
    except Exception:  # noqa: BLE001 - e.g. an unhashable value tested against a set of names
        return True


def test_detect_keys_are_necessary_for_detection() -> None:
    """Every record a format detects has one of its DETECT_KEYS (else dispatch would miss it)."""
    formats = make_formats()
    for line in all_lines():
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(record, dict):
            continue
        for fmt in formats:
            if fmt.name in DETECT_KEYS and detects(fmt, record):
                assert not DETECT_KEYS[fmt.name].isdisjoint(record), (fmt.name, record)


def test_dispatch_detects_the_same_format_as_trying_every_format() -> None:
    formats = make_formats()
    normaliser = Normaliser(NormaliseOptions(source="t"))
    seen = set()
    for line in fixture_records() + random_lines(2000):
        record = orjson.loads(line)
        if not isinstance(record, dict):
            continue
        expected = next(fmt.name for fmt in formats if detects(fmt, record))
        chosen = next(fmt.name for fmt in normaliser._formats_for(tuple(record)) if detects(fmt, record))  # noqa: SLF001
        assert chosen == expected, record
        seen.add(expected)
    assert len(seen) >= 9, seen  # the fixtures cover (nearly) every format


@pytest.mark.parametrize("options", [
    NormaliseOptions(source="t"),
    NormaliseOptions(source="t", format="app", default_token_source="estimated"),
    NormaliseOptions(source="t", keep_raw=False),
])
def test_app_fast_path_gives_what_the_general_path_gives(options: NormaliseOptions) -> None:
    fast, slow = Normaliser(options), general(options)
    engaged = 0
    for line in all_lines():
        engaged += decode_line(line) is not None
        assert outcome(fast, line) == outcome(slow, line), line
        assert outcome(fast, line) == outcome(slow, line), line  # again: formats may keep state
    assert engaged > 700  # the fast path did read every generated line and many random ones


def test_app_fast_path_declines_what_it_cannot_read_exactly() -> None:
    declined = [
        b'{"model": "m", "prompt_tokens": "12"}',  # a count written as a string
        b'{"model": "m", "prompt_tokens": 1, "type": "message"}',  # another format's key
        b'{"model": "m", "prompt_tokens": 1, "api_key": "sk-1"}',  # a credential: the raw line is masked
        b'{"model": "m", "prompt_tokens": 1, "metadata": {"authorization": "Bearer x"}}',
        b'{"model": "m", "prompt_tokens": 1, "metadata": {"usage": {"inputTokens": 1}}}',  # Bedrock
        b'{"model": "m\xc3\xa9", "prompt_tokens": 1}',  # not ASCII
        b'[1, 2]', b'{"model": ', b'{"model": "m", "prompt_tokens": -1}',
    ]
    assert [line for line in declined if decode_line(line) is not None] == []
    assert decode_line(b'{"model": "m", "prompt_tokens": 1, "session": {"x": [1, 2]}}') is not None


def test_app_fast_path_event_type() -> None:
    fast = Normaliser(NormaliseOptions(source="t"))
    (event,) = fast.events_from_line(b'{"ts": 1790000000, "model": "gpt-4o", "usage": {"tokens": 9}}', 0.0)
    assert isinstance(event, UsageEvent) and event.total_tokens == 9 and event.format == "app"


def record_outcome(normaliser: Normaliser, record: Any) -> list[dict[str, Any]] | str:
    try:
        events = normaliser.events_from_record(record, read_time=1_800_000_000.0, raw=b"r")
    except SkipRecord as skip:
        return f"skip: {skip.reason}: {skip.detail}"
    except Exception as exc:  # noqa: BLE001 - sources count these as bad records: same for both
        return f"error: {type(exc).__name__}: {exc}"
    return [{**event_to_dict(e), "raw": e.raw} for e in events]


def python_records(n: int, seed: int = 3) -> list[dict[Any, Any]]:
    """Records as a ledger or an endpoint hands them over: values JSON cannot hold too."""
    rng = random.Random(seed)
    odd = [float("nan"), float("inf"), -0.0, b"12", (1, 2), 2**70, 1.0e300]
    out = []
    for _ in range(n):
        record = {key: rng.choice(VALUES + odd) for key in rng.sample(KEYS, rng.randrange(1, 8))}
        if rng.random() < 0.6:
            record.update({"model": "gpt-4o", "prompt_tokens": rng.randrange(100), "user": "u"})
        out.append(record)
    out.append({1: "not a str key", "prompt_tokens": 3})
    return out


def test_app_record_fast_path_gives_what_the_general_path_gives() -> None:
    options = NormaliseOptions(source="t")
    fast, slow = Normaliser(options), general(options)
    slow._app_record = None  # noqa: SLF001
    records = [orjson.loads(line) for line in all_lines() if _decodes(line)] + python_records(3000)
    engaged = 0
    for record in records:
        engaged += isinstance(record, dict) and convert_record(record) is not None
        assert record_outcome(fast, record) == record_outcome(slow, record), record
    assert engaged > 800


def _decodes(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def test_a_format_without_detect_keys_turns_the_app_fast_path_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from tokentop.core import formats

    class Newcomer:
        name = "newcomer"

        def detect(self, record: Any) -> bool:
            return "model" in record

        def extract(self, record: Any) -> dict[str, Any]:
            return {"model": "new"}

    monkeypatch.setattr(formats, "FORMATS", {"newcomer": Newcomer, **formats.FORMATS})
    normaliser = Normaliser(NormaliseOptions(source="t"))
    assert normaliser._app_line is None and normaliser._app_record is None  # noqa: SLF001
    (event,) = normaliser.events_from_line(b'{"model": "m", "prompt_tokens": 1}', 0.0)
    assert event.format == "newcomer"
    assert Normaliser(NormaliseOptions(source="t", format="app"))._app_line is not None  # noqa: SLF001


def test_learned_lane_gives_what_the_general_path_gives() -> None:
    """The lane learns the key sets the typed path reads, then reads those lines itself: same events,
    same skips, on the benchmark's shapes and on records mixing every spelling and value kind."""
    options = NormaliseOptions(source="t")
    fast, slow = Normaliser(options), general(options)
    lane = fast._lane  # noqa: SLF001
    hits = 0
    read = lane.event

    def counted(*args: Any) -> Any:
        nonlocal hits
        event = read(*args)
        hits += event is not None
        return event

    lane.event = counted  # type: ignore[method-assign]
    lines = generated_lines(600) + all_lines() + random_lines(4000, seed=11) + [
        b'{"ts": 1790000000, "model": "m", "prompt_tokens": "12"}',  # a learned key, another type
        b'{"ts": 1790000000, "model": "m", "prompt_tokens": 1, "brand_new_key": 1}',
        b'{"ts": 1790000000, "model": "m", "prompt_tokens": 1, "metadata": {"usage": {"inputTokens": 1}}}',
        b'{"ts": 1790000000, "model": "m\xc3\xa9", "prompt_tokens": 1}',
        b'{"ts": "not a time", "model": "m", "prompt_tokens": 1}',
    ]
    for line in lines:
        assert outcome(fast, line) == outcome(slow, line), line
    assert hits > 1000


def test_lane_reads_only_key_sets_it_has_learned() -> None:
    fast = Normaliser(NormaliseOptions(source="t"))
    lane = fast._lane  # noqa: SLF001
    line = b'{"timestamp": "2026-11-02T08:00:00Z", "user": "u", "model": "gpt-4o", "prompt_tokens": 5}'
    assert lane.event(line, 0.0, None) is None  # nothing learned yet
    (first,) = fast.events_from_line(line, 0.0)
    again = lane.event(line, 0.0, line)
    assert again is not None and event_to_dict(again) == event_to_dict(first)
    assert lane.event(line[:-1] + b', "object": "chat.completion"}', 0.0, None) is None  # another format's key
    assert lane.event(line[:-1] + b', "api_key": "sk-1"}', 0.0, None) is None  # a credential
