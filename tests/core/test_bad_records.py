"""Bad input becomes a counted skip with a stable reason, never a crash and never a silent zero."""

from __future__ import annotations

import pytest

from tokentop.core.event import SkipRecord
from tokentop.core.lines import LineDecoder, split_lines
from tokentop.core.normalise import NormaliseOptions, Normaliser

from .helpers import normalise


@pytest.mark.parametrize(("line", "reason"), [
    (b"{not json", "invalid_json"),
    (b'{"prompt_tokens": 1', "invalid_json"),
    (b'{"prompt_tokens": NaN}', "invalid_json"),  # orjson rejects NaN/Infinity literals
    (b'{"prompt_tokens": Infinity}', "invalid_json"),
    (b'{"prompt_tokens": 1e400}', "invalid_json"),  # overflows a double
    (b'{"user": "\xff\xfe", "prompt_tokens": 1}', "invalid_json"),  # not UTF-8
    (b"[1, 2]", "not_an_object"),
    (b'"text"', "not_an_object"),
    (b"42", "not_an_object"),
    (b"null", "not_an_object"),
    (b'{"prompt_tokens": "abc"}', "wrong_type"),
    (b'{"prompt_tokens": true}', "wrong_type"),
    (b'{"completion_tokens": false}', "wrong_type"),
    (b'{"prompt_tokens": [1]}', "wrong_type"),
    (b'{"prompt_tokens": {"n": 1}}', "wrong_type"),
    (b'{"prompt_tokens": 1.5}', "wrong_type"),
    (b'{"prompt_tokens": -1}', "negative_tokens"),
    (b'{"prompt_tokens": "-7"}', "negative_tokens"),
    (b'{"total_tokens": 100000001}', "absurd_tokens"),
    (b'{"prompt_tokens": 99999999999999999999999999}', "absurd_tokens"),  # huge int (orjson: a float)
    (b'{"prompt_tokens": "NaN"}', "not_a_number"),
    (b'{"usage": {"prompt_tokens": -3}}', "negative_tokens"),
    (b'{"usage": {"prompt_tokens": 1, "prompt_tokens_details": {"cached_tokens": "x"}}}', "wrong_type"),
    (b'{"prompt_tokens": 1, "cost": -0.5}', "negative_cost"),
    (b'{"prompt_tokens": 1, "cost": "free"}', "wrong_type"),
    (b'{"prompt_tokens": 1, "timestamp": "yesterday"}', "bad_time"),
    (b'{"prompt_tokens": 1, "timestamp": -5}', "bad_time"),
    (b'{"prompt_tokens": 1, "timestamp": true}', "bad_time"),
    (b'{"prompt_tokens": 1, "timestamp": [2026]}', "bad_time"),
    (b'{"prompt_tokens": 1, "timestamp": 1e30}', "bad_time"),  # beyond any real date
    (b'{"prompt_tokens": 1, "timestamp": "9999-12-31T23:59:59Z"}', "bad_time"),
])
def test_bad_record_reason(line: bytes, reason: str) -> None:
    with pytest.raises(SkipRecord) as info:
        normalise(line)
    assert info.value.reason == reason


def test_integral_float_and_digit_string_counts_are_accepted() -> None:
    e = normalise(b'{"prompt_tokens": 12.0, "completion_tokens": " 8 "}')
    assert (e.prompt_tokens, e.completion_tokens) == (12, 8)


def test_deep_nesting_is_a_skip_not_a_crash() -> None:
    line = b'{"usage": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001
    skipped: list[SkipRecord] = []
    LineDecoder(Normaliser(NormaliseOptions(source="s")), skipped.append).decode([line], 1.0)
    assert [s.reason for s in skipped] == ["invalid_json"]


def test_wrong_types_in_labels_do_not_skip() -> None:
    e = normalise({"prompt_tokens": 1, "user": ["a"], "model": {"x": 1}, "latency_ms": "slow"})
    assert (e.user, e.model, e.latency_ms) == (None, "unknown", None)


def decoder(max_line: int = 1 << 20) -> tuple[LineDecoder, list[SkipRecord]]:
    skipped: list[SkipRecord] = []
    return LineDecoder(Normaliser(NormaliseOptions(source="s")), skipped.append, max_line), skipped


def test_line_decoder_blank_lines_crlf_and_skips() -> None:
    dec, skipped = decoder()
    lines = [b'{"prompt_tokens": 1}\r', b"", b"   ", b"\r", b"garbage", b'{"prompt_tokens": 2}', b"[]"]
    events = dec.decode(lines, 5.0)
    assert [e.prompt_tokens for e in events] == [1, 2]
    assert events[0].raw == b'{"prompt_tokens": 1}'
    assert [s.reason for s in skipped] == ["invalid_json", "not_an_object"]


def test_line_decoder_skips_over_long_lines() -> None:
    dec, skipped = decoder(max_line=64)
    long_line = b'{"prompt_tokens": 1, "pad": "' + b"x" * 100 + b'"}'
    events = dec.decode([long_line, b'{"prompt_tokens": 3}'], 5.0)
    assert [e.prompt_tokens for e in events] == [3]
    assert [s.reason for s in skipped] == ["line_too_long"]


def test_split_lines_keeps_the_partial_remainder() -> None:
    assert split_lines(b"") == ([], b"")
    assert split_lines(b"abc") == ([], b"abc")
    assert split_lines(b"a\nb\n") == ([b"a", b"b"], b"")
    assert split_lines(b"a\r\nb\npart") == ([b"a\r", b"b"], b"part")
    assert split_lines(b"\n\n") == ([b"", b""], b"")


def test_an_unexpected_error_in_one_record_is_a_skip_and_the_next_lines_go_on() -> None:
    calls = []

    def cost_of(e):  # a price lookup that breaks on one record
        calls.append(e.model)
        if e.model == "broken":
            raise KeyError("price table")
        return None

    skipped: list[SkipRecord] = []
    dec = LineDecoder(Normaliser(NormaliseOptions(source="s"), cost_of=cost_of), skipped.append)
    events = dec.decode([b'{"model": "broken", "prompt_tokens": 1}', b'{"model": "ok", "prompt_tokens": 2}'], 1.0)
    assert [e.model for e in events] == ["ok"]
    assert [s.reason for s in skipped] == ["bad_record"] and "KeyError" in skipped[0].detail
