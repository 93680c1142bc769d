from __future__ import annotations

from .conftest import COUNTS, fixture_lines, normalise, pick


def test_each_response_counted_once_with_its_final_usage(per_line):
    for fmt in (None, "claude_code"):
        events = normalise(fixture_lines("claude_code.jsonl"), fmt=fmt, per_line=per_line)
        first, second, api_error = events
        assert pick(first, *COUNTS) == dict(prompt_tokens=4 + 1200 + 15000, completion_tokens=245,
                                            total_tokens=16449, cached_tokens=15000, cache_write_tokens=1200,
                                            reasoning_tokens=0, token_source="actual")
        assert first.request_id == "req_011AAA" and first.ts == 1756804449.5 and first.format == "claude_code"
        # The sidechain replay of msg_01BBB (same usage, new requestId) is dropped for its parent.
        assert second.request_id == "msg_01BBB" and second.model == "claude-opus-4-1-20250805"
        assert second.cost == (10 * 15.0 + 16200 * 1.5 + 300 * 18.75 + 120 * 75.0) / 1e6
        assert api_error.token_source == "missing" and api_error.error.startswith("API Error: 529")
        assert api_error.model == "unknown"


def test_resumed_session_copies_are_not_counted_again():
    lines = fixture_lines("claude_code.jsonl")
    events = normalise(lines + lines, fmt="claude_code", per_line=True)
    assert len(events) == 3


def test_lines_without_usage_are_not_parsed_when_the_format_is_forced():
    from tokentop.core.event import SkipRecord

    skips: list[SkipRecord] = []
    events = normalise([b'{"type":"user", broken', b'{"type":"summary","summary":"x","leafUuid":"a"}'],
                       fmt="claude_code", skips=skips)
    assert events == [] and skips == []
    normalise([b'{"type":"assistant","usage" broken'], fmt="claude_code", skips=skips)
    assert [s.reason for s in skips] == ["invalid_json"]


def test_fast_line_path_gives_the_same_fields_as_the_general_path():
    import orjson

    from tokentop.core.formats import request_fields
    from tokentop.core.formats.claude_code import ClaudeCodeFormat
    from tokentop.core.timeparse import parse_time

    fmt = ClaudeCodeFormat()
    lines = fixture_lines("claude_code.jsonl") + [
        b'{"type":"assistant","uuid":"x","message":{"id":"m","model":"claude-sonnet-4","usage":{"input_tokens":"7",'
        b'"output_tokens":2,"cache_creation_input_tokens":0}}}',  # a digit string: the general path reads it
        b'{"type":"assistant","uuid":"x","costUSD":0.5,"message":{"id":"m2","model":"claude-sonnet-4","usage":'
        b'{"input_tokens":1,"output_tokens":2,"cache_creation":{"ephemeral_5m_input_tokens":4}}}}',
    ]
    def same_time(fields):
        if fields is not None and "ts" in fields:
            fields["ts"] = parse_time(fields["ts"])
        return fields

    for line in lines:
        record = orjson.loads(line)
        expected = fmt.extract(record) if fmt.detect(record) else None
        got = fmt.extract_line(line)
        if type(got) is tuple:  # a Request: the same fields, without the intermediate dict
            got = request_fields(got)
            expected.pop("format", None)
        assert same_time(got) == same_time(expected), line


def test_generated_tree_totals_match_the_generators_truth(tmp_path):
    """A realistic tree (multi-line responses with intermediate counts, resumed-session copies,
    sidechain replays, lines without requestId, API-error lines) read file by file in small chunks:
    per-model totals after dedupe equal the generator's own record of each response's final usage."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "claude_tree.py"
    spec = importlib.util.spec_from_file_location("claude_tree", path)
    tree = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tree)
    truth = tree.generate_tree(tmp_path / "projects", 6000, seed=3)
    tree.CHUNK = 16 * 1024  # many deliveries, so superseding crosses batches (retractions)
    got = tree.run_tokentop(tmp_path / "projects")
    assert got["skips"] == 0 and got["totals"] == truth
    assert sum(t["requests"] for t in truth.values()) > 300
