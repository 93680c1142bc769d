from __future__ import annotations

from .conftest import COUNTS, fixture_lines, normalise, pick


def test_anthropic_messages_input_excludes_cache(per_line):
    write, read, stream, cut = normalise(fixture_lines("anthropic.jsonl"), per_line=per_line)
    assert pick(write, *COUNTS) == dict(prompt_tokens=21 + 188086, completion_tokens=393, total_tokens=188500,
                                        cached_tokens=0, cache_write_tokens=188086, reasoning_tokens=0,
                                        token_source="actual")
    assert write.cost == (21 * 3.0 + 188086 * 3.75 + 393 * 15.0) / 1e6
    assert pick(read, "prompt_tokens", "cached_tokens") == {"prompt_tokens": 188136, "cached_tokens": 188086}
    # message_start then two cumulative message_delta events: the last one wins, nothing is summed.
    assert pick(stream, *COUNTS) == dict(prompt_tokens=472 + 2048, completion_tokens=510, total_tokens=3030,
                                         cached_tokens=2048, cache_write_tokens=0, reasoning_tokens=0,
                                         token_source="actual")
    assert stream.status is None and stream.request_id == "msg_stream"
    # A stream cut off after message_start stays counted, marked incomplete.
    assert (cut.prompt_tokens, cut.completion_tokens, cut.status, cut.is_error) == (1000, 1, "incomplete", True)


def test_gemini_thoughts_are_added_to_candidates_and_streams_take_the_last(per_line):
    plain, stream, blocked, vertex = normalise(fixture_lines("gemini.jsonl"), per_line=per_line)
    assert pick(plain, *COUNTS) == dict(prompt_tokens=1200, completion_tokens=1100, total_tokens=2300,
                                        cached_tokens=1024, cache_write_tokens=0, reasoning_tokens=800,
                                        token_source="actual")
    assert not plain.mismatched and plain.provider == "gemini"
    assert pick(stream, *COUNTS) == dict(prompt_tokens=100, completion_tokens=230, total_tokens=330,
                                         cached_tokens=0, cache_write_tokens=0, reasoning_tokens=200,
                                         token_source="actual")
    assert blocked.error == "prompt blocked: SAFETY" and blocked.prompt_tokens == 17
    assert vertex.ts == 1741943564.123456 and vertex.cost == (10 * 0.10 + 4 * 0.40) / 1e6


def test_gemini_sdk_snake_case_dump():
    line = (b'{"candidates":[{"finish_reason":"STOP"}],"usage_metadata":{"prompt_token_count":5,'
            b'"candidates_token_count":7,"thoughts_token_count":3,"total_token_count":15},'
            b'"model_version":"gemini-2.5-flash","response_id":"r1"}')
    (event,) = normalise([line])
    assert (event.prompt_tokens, event.completion_tokens, event.reasoning_tokens, event.total_tokens) == (5, 10, 3, 15)
