"""The Claude Code fast line path (typed decode -> Request tuple -> positional event) against the
general path (orjson dict -> extract -> keyword event): same events, same retractions, same skips."""

from __future__ import annotations

import json

import pytest

from tokentop.core.event import SkipRecord, UsageEvent, event_to_dict
from tokentop.core.formats.claude_code import ClaudeCodeFormat
from tokentop.core.lines import LineDecoder
from tokentop.core.normalise import NormaliseOptions, Normaliser
from tokentop.core.pricing import shipped_table

from .conftest import fixture_lines

BASE = {"type": "assistant", "sessionId": "s-1", "uuid": "u-1", "timestamp": "2025-09-02T09:14:07.201Z",
        "requestId": "req_1", "isSidechain": False}
USAGE = {"input_tokens": 4, "cache_creation_input_tokens": 1200, "cache_read_input_tokens": 15000,
         "output_tokens": 8, "service_tier": "standard"}


def line(msg_id: str | None = "msg_1", model: str | None = "claude-sonnet-4-20250514", usage=None,
         **top) -> bytes:
    message = {"id": msg_id, "type": "message", "role": "assistant", "model": model,
               "content": [{"type": "text", "text": "héllo ✓ \"usage\""}], "usage": usage or USAGE}
    record = {**BASE, "message": {k: v for k, v in message.items() if v is not None}, **top}
    return json.dumps({k: v for k, v in record.items() if v is not ...}, ensure_ascii=False).encode()


TRICKY = [
    *fixture_lines("claude_code.jsonl"),
    line(model="claude-ünïcode-ß", msg_id="msg_ñ"),  # non-ASCII values
    line(msg_id="msg_esc").replace(b'"msg_esc"', b'"msg_\\u00e9sc"'),  # an escaped id
    line(msg_id="msg_crlf") + b"\r",  # CRLF
    line(msg_id="msg_noreq", requestId=...),  # no requestId: the message id stands in
    line(msg_id="msg_blankreq", requestId="   "),
    line(msg_id="msg_multi", usage={**USAGE, "output_tokens": 3}),  # intermediate output count
    line(msg_id="msg_multi", usage={**USAGE, "output_tokens": 300}),  # ... then the final one
    line(msg_id="msg_multi", usage={**USAGE, "output_tokens": 300}, isSidechain=True, requestId="req_side"),
    line(msg_id="msg_side_first", isSidechain=True, requestId="req_s"),  # a sidechain line first
    line(msg_id="msg_side_first"),
    line(msg_id="msg_speed", usage={**USAGE, "speed": "standard"}),
    line(msg_id="msg_fast", usage={**USAGE, "speed": "fast"}),
    line(msg_id="msg_think", usage={**USAGE, "output_tokens_details": {"thinking_tokens": 5}}),
    line(msg_id="msg_ttl", usage={"input_tokens": 1, "output_tokens": 2,
                                  "cache_creation": {"ephemeral_5m_input_tokens": 4}}),
    line(msg_id="msg_cost", costUSD=0.25),
    line(msg_id="msg_intcost", costUSD=3),
    line(msg_id="msg_negcost", costUSD=-1),
    line(msg_id="msg_hugecost", costUSD=1).replace(b'"costUSD": 1', b'"costUSD": 1e999'),
    line(msg_id="msg_strcount", usage={**USAGE, "input_tokens": "7"}),
    line(msg_id="msg_floatcount", usage={**USAGE, "input_tokens": 7.0}),
    line(msg_id="msg_neg", usage={**USAGE, "input_tokens": -1}),
    line(msg_id="msg_absurd", usage={**USAGE, "output_tokens": 10**9}),
    line(msg_id="msg_bool", usage={**USAGE, "output_tokens": True}),
    line(msg_id="msg_nocounts", usage={"service_tier": "standard"}),
    line(msg_id="msg_blankmodel", model="   "),
    line(msg_id="   "),  # a blank id cannot be joined: it counts on its own
    line(msg_id=None),
    line(msg_id="msg_syn", model="<synthetic>", isApiErrorMessage=True,
         usage={"input_tokens": 0, "output_tokens": 0}),
    line(msg_id="msg_apierr", isApiErrorMessage=True),
    line(msg_id="msg_noid_fields", sessionId=..., uuid=...),  # not a transcript line: absorbed
    line(msg_id="msg_nulluuid", sessionId=..., uuid=None),  # present (null) is enough for detection
    line(msg_id="msg_leaf", sessionId=..., uuid=..., leafUuid="l"),
    line(msg_id="msg_user", type="user"),
    line(msg_id="msg_sidestr", isSidechain="true"),
    line(msg_id="msg_dupkey").replace(b'"type": "assistant"', b'"type": "user", "type": "assistant"'),
    line(msg_id="msg_msglist").replace(b'"message": {', b'"message": [{', 1)[:-1] + b"]}",
    *[line(msg_id=f"msg_ts{n}", timestamp=ts) for n, ts in enumerate([
        "2025-09-02T09:14:59.999Z", "2025-13-02T09:14:07.201Z", "2025-09-02T09:14:60.000Z",
        "9999-09-02T09:14:07.201Z", "3000-01-01T00:00:00.000Z", "1969-12-31T23:59:59.999Z",
        "1970-01-01T00:00:00.000Z", "2025-09-02 09:14:07.201Z", "2025-09-02T09:14:07.2011Z",
        "2025-09-02T09:14:07.201+00:00", "2025-09-02T09:14:07Z", "２０２５-09-02T09:14:07.201Z",
        "2025-09-02T09:14:+7.201Z", "2025-09-02T09:14:07.+01Z", "", 1756804447201, None])],
    line(msg_id="msg_nots", timestamp=...),
    b'{"type":"assistant","uuid":"x","message":{"usage":{}}, broken',
    b'["usage"]',
]


def _run(lines: list[bytes], per_line: bool, fast: bool, **options) -> tuple[list[dict], list[dict], list]:
    normaliser = Normaliser(NormaliseOptions(source="t", format="claude_code", **options),
                            cost_of=shipped_table().cost)
    if not fast:  # the general path: full parse, detect, extract, Fields dict, keyword event
        normaliser._extract_line = normaliser.formats[0]._general
    skips: list[SkipRecord] = []
    decoder = LineDecoder(normaliser, skips.append)
    emitted: list[UsageEvent] = []
    retracted: list[UsageEvent] = []
    for batch in ([one] for one in lines) if per_line else [lines]:
        emitted += decoder.decode(batch, read_time=1_800_000_000.0)
        retracted += decoder.take_retractions()

    def full(e: UsageEvent) -> dict:
        return {**event_to_dict(e), "ts": e.ts, "raw": e.raw}

    return [full(e) for e in emitted], [full(e) for e in retracted], [(s.reason, s.detail) for s in skips]


@pytest.mark.parametrize("per_line", [False, True], ids=["one-batch", "per-line"])
@pytest.mark.parametrize("options", [{}, {"default_token_source": "estimated"},
                                     {"default_token_source": "missing"}, {"keep_raw": False}])
def test_fast_path_gives_the_general_paths_events_and_skips(per_line, options):
    fast = _run(TRICKY, per_line, fast=True, **options)
    general = _run(TRICKY, per_line, fast=False, **options)
    assert fast[0] == general[0]
    assert fast[1] == general[1]
    # The same lines are skipped for the same reasons (msgspec and orjson word a broken line apart).
    assert [reason for reason, _ in fast[2]] == [reason for reason, _ in general[2]]
    assert [d for r, d in fast[2] if r != "invalid_json"] == [d for r, d in general[2] if r != "invalid_json"]
    assert len(fast[0]) > 30 and fast[2]  # the cases above do produce events and skips


def test_fast_path_is_taken_for_common_lines_only():
    fmt = ClaudeCodeFormat()
    assert type(fmt.extract_line(line())) is tuple
    assert type(fmt.extract_line(line(msg_id="m", costUSD=0.5))) is tuple
    for uncommon in (line(usage={**USAGE, "speed": "fast"}), line(isApiErrorMessage=True),
                     line(model="   "), line(requestId=1), line(usage={**USAGE, "input_tokens": "7"})):
        assert type(fmt.extract_line(uncommon)) is dict


def _decoder(max_line: int) -> tuple[LineDecoder, list[SkipRecord]]:
    skips: list[SkipRecord] = []
    normaliser = Normaliser(NormaliseOptions(source="t", format="claude_code"), cost_of=shipped_table().cost)
    return LineDecoder(normaliser, skips.append, max_line=max_line), skips


@pytest.mark.parametrize("max_line", [1 << 20, 700])
def test_decode_chunk_gives_what_split_lines_and_decode_give(max_line):
    """Cutting out only the lines around needle hits: the same events, skips, rest and line count as
    splitting every line, for CRLF, blank and over-long lines, a needle in the unfinished rest, ..."""
    import random

    from tokentop.core.lines import split_lines

    user = b'{"type":"user","uuid":"u","message":{"content":"no usage here"}}'
    pool = [*TRICKY, user, b"", b"   ", b"\r", user + b"\r", b'{"note":"' + b"x" * 900 + b'"}',
            line(msg_id="msg_long", usage={**USAGE, "note": "y" * 900}), b'not json but "usage"']
    rng = random.Random(5)
    for _ in range(40):
        chosen = [rng.choice(pool) for _ in range(rng.randint(0, 30))]
        buffer = b"\n".join(chosen) + rng.choice([b"", b"\n", b'\n{"type":"assistant","usage"'])
        split, split_skips = _decoder(max_line)
        chunk, chunk_skips = _decoder(max_line)
        lines, rest = split_lines(buffer)
        expected = split.decode(lines, 1_800_000_000.0)
        got, got_rest = chunk.decode_chunk(buffer, 1_800_000_000.0)
        assert got_rest == rest
        assert [event_to_dict(e) for e in got] == [event_to_dict(e) for e in expected]
        assert [(s.reason, s.detail) for s in chunk_skips] == [(s.reason, s.detail) for s in split_skips]
        assert chunk.take_retractions() == split.take_retractions()
