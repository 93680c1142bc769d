"""Deferred builds (tokentop.core.supersede): a transcript's request is built once, at delivery, from
its best line -- with the same counts, skips and retractions as building at first sight."""

from __future__ import annotations

import pytest

from tokentop.core.event import SkipRecord, UsageEvent
from tokentop.core.lines import LineDecoder
from tokentop.core.normalise import NormaliseOptions, Normaliser
from tokentop.core.pricing import shipped_table

from .test_claude_fast_path import USAGE, line

READ_TIME = 1_800_000_000.0
BAD_TIME = "2025-13-02T09:14:07.201Z"


def _decoder(fast: bool = True, **options) -> tuple[LineDecoder, list[SkipRecord]]:
    normaliser = Normaliser(NormaliseOptions(source="t", format="claude_code", **options),
                            cost_of=shipped_table().cost)
    if not fast:  # the general path: a Fields dict per line (deferred the same way)
        normaliser._extract_line = normaliser.formats[0]._general
    skips: list[SkipRecord] = []
    return LineDecoder(normaliser, skips.append), skips


def _out(count: int, **top) -> bytes:
    return line(usage={**USAGE, "output_tokens": count}, **top)


@pytest.mark.parametrize("fast", [True, False], ids=["request", "fields"])
def test_a_better_line_with_a_bad_time_is_a_skip_and_the_earlier_line_stands(fast):
    decoder, skips = _decoder(fast)
    (event,) = decoder.decode([_out(3), _out(300, timestamp=BAD_TIME)], READ_TIME)
    assert event.completion_tokens == 3 and event.ts == 1756804447.201
    assert [s.reason for s in skips] == ["bad_time"]
    assert decoder.take_retractions() == []
    # The better line's rank was seen: an equal line later is a duplicate, a better one supersedes.
    assert decoder.decode([_out(300)], READ_TIME) == []
    (final,) = decoder.decode([_out(301)], READ_TIME)
    assert final.completion_tokens == 301
    assert [e.completion_tokens for e in decoder.take_retractions()] == [3]


@pytest.mark.parametrize("fast", [True, False], ids=["request", "fields"])
def test_a_request_whose_every_line_is_bad_is_skipped_and_judged_afresh_later(fast):
    decoder, skips = _decoder(fast)
    assert decoder.decode([_out(3, timestamp=BAD_TIME), _out(300, timestamp=BAD_TIME)], READ_TIME) == []
    assert [s.reason for s in skips] == ["bad_time", "bad_time"]  # each line read is counted
    (event,) = decoder.decode([_out(3)], READ_TIME)  # nothing was delivered: not a duplicate
    assert event.completion_tokens == 3 and decoder.take_retractions() == []


def test_a_request_spanning_two_deliveries_is_retracted_and_replaced():
    decoder, skips = _decoder()
    (first,) = decoder.decode([_out(3)], READ_TIME)
    assert decoder.take_retractions() == []
    (second,) = decoder.decode([_out(300), _out(300, isSidechain=True, requestId="req_side")], READ_TIME)
    assert (first.completion_tokens, second.completion_tokens) == (3, 300)
    (gone,) = decoder.take_retractions()
    assert gone.completion_tokens == 3 and gone.raw is None and skips == []


def test_a_request_spanning_two_chunks_of_one_file_counts_once_with_its_final_usage():
    decoder, skips = _decoder()
    data = b"\n".join([_out(3), _out(40), _out(300)]) + b"\n"
    cut = data.index(b"\n", data.index(b"\n") + 1) + 1  # after the second line
    events, rest = decoder.decode_chunk(data[:cut - 5], READ_TIME)
    more, rest = decoder.decode_chunk(rest + data[cut - 5:], READ_TIME)
    assert rest == b"" and skips == []
    kept = [e.completion_tokens for e in events + more]
    for gone in decoder.take_retractions():
        kept.remove(gone.completion_tokens)
    assert kept == [300]


def test_duplicates_across_files_count_once():
    """A resumed session copies earlier responses into a new file: one source, one count each."""
    decoder, _ = _decoder()
    session = b"\n".join([_out(3, msg_id="msg_a"), _out(300, msg_id="msg_a"), _out(9, msg_id="msg_b")]) + b"\n"
    first, _ = decoder.decode_chunk(session, READ_TIME)
    copy, _ = decoder.decode_chunk(session + _out(5, msg_id="msg_c") + b"\n", READ_TIME)
    assert [e.completion_tokens for e in first] == [300, 9]
    assert [e.completion_tokens for e in copy] == [5] and decoder.take_retractions() == []


def test_events_keep_the_order_their_requests_were_first_seen():
    """Deferred events come back in place, between events of lines without a message id."""
    decoder, _ = _decoder()
    lines = [_out(1, msg_id="msg_a"), _out(2, msg_id=None), _out(3, msg_id="msg_b"), _out(30, msg_id="msg_a"),
             _out(4, msg_id=None), _out(5, msg_id="msg_b", timestamp=BAD_TIME)]
    events = decoder.decode(lines, READ_TIME)
    assert [e.completion_tokens for e in events] == [30, 2, 3, 4]


def test_events_from_line_still_builds_at_once_and_settles_at_delivery():
    """The methods that return events build at first sight; a better record before the delivery
    updates that very event in place, and a bad one is counted when the caller passes on_skip."""
    normaliser = Normaliser(NormaliseOptions(source="t", format="claude_code"))
    (event,) = normaliser.events_from_line(_out(3), READ_TIME)
    assert normaliser.events_from_line(_out(300), READ_TIME) == []
    assert normaliser.events_from_line(_out(400, timestamp=BAD_TIME), READ_TIME) == []
    skips: list[SkipRecord] = []
    assert normaliser.deliver(skips.append) == []
    assert event.completion_tokens == 300 and [s.reason for s in skips] == ["bad_time"]
    assert normaliser.take_retractions() == []
    assert isinstance(event, UsageEvent) and event.raw is not None


def test_a_better_line_for_a_request_past_the_retract_window_is_absorbed():
    decoder, skips = _decoder(retract_window=2, supersede_window=1000)
    (first,) = decoder.decode([_out(3)], READ_TIME)
    for n in range(6):  # push msg_1's event out of the retract window (not out of the rank window)
        decoder.decode([_out(1, msg_id=f"msg_x{n}")], READ_TIME)
    assert decoder.decode([_out(300), _out(400)], READ_TIME) == []  # the earlier count stands
    assert decoder.take_retractions() == [] and skips == []


def test_an_unexpected_error_while_building_is_a_counted_bad_record():
    decoder, skips = _decoder()
    build = decoder.normaliser.build

    def failing(*args):
        if args[1] == "req_bug":  # (request_id)
            raise RuntimeError("a format's bug")
        return build(*args)

    decoder.normaliser.build = failing
    events = decoder.decode([_out(3, msg_id="msg_ok"), _out(3, msg_id="msg_bug", requestId="req_bug")], READ_TIME)
    assert [e.request_id for e in events] == ["req_1"]
    assert [(s.reason, s.detail) for s in skips] == [("bad_record", "RuntimeError: a format's bug")]
