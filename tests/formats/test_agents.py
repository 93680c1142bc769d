"""Coding agents' own logs: Codex CLI rollouts and Gemini CLI chat recordings (issue 15, point 7).

The fixtures follow the tools' record shapes (openai/codex ``RolloutLine`` / ``TokenCountEvent``,
gemini-cli ``ChatRecordingService``); forks, resumes and moves between files are tested on real files
in tests/sources/test_agent_presets.py.
"""

from __future__ import annotations

import pytest

from .conftest import COUNTS, fixture_lines, normalise, pick


@pytest.mark.parametrize("fmt", [None, "codex"])
def test_codex_counts_each_response_once(per_line, fmt):
    events = normalise(fixture_lines("codex.jsonl"), fmt=fmt, per_line=per_line)
    assert [e.model for e in events] == ["gpt-5-codex", "gpt-5-codex", "gpt-5"]
    first, second, resumed = events
    # input includes cached, output includes reasoning (OpenAI's convention); the reported total stands
    assert pick(first, *COUNTS) == dict(prompt_tokens=9000, completion_tokens=400, total_tokens=9400,
                                        cached_tokens=3000, cache_write_tokens=0, reasoning_tokens=256,
                                        token_source="actual")
    assert pick(second, "prompt_tokens", "cached_tokens", "completion_tokens") == {
        "prompt_tokens": 9800, "cached_tokens": 8960, "completion_tokens": 250}
    # after a resume (0.58 restarts the cumulative count in the same file) the next response counts
    assert pick(resumed, "prompt_tokens", "completion_tokens", "reasoning_tokens") == {
        "prompt_tokens": 12000, "completion_tokens": 900, "reasoning_tokens": 512}
    assert all(e.format == "codex" and e.provider == "openai" and not e.provider_inferred for e in events)
    assert first.ts == pytest.approx(1763502952.3)  # the token_count line's own time


def test_codex_lines_without_usage_are_absorbed_not_skipped():
    skips: list = []
    lines = fixture_lines("codex.jsonl")
    normalise(lines, skips=skips)
    normalise(lines, fmt="codex", skips=skips)
    assert skips == []


def test_codex_usage_of_the_wrong_type_is_a_counted_skip():
    line = fixture_lines("codex.jsonl")[4].replace(b'"output_tokens":400', b'"output_tokens":"many"', 1)
    skips: list = []
    assert normalise([fixture_lines("codex.jsonl")[0], line], fmt="codex", skips=skips) == []
    assert [s.reason for s in skips] == ["wrong_type"]


@pytest.mark.parametrize("fmt", [None, "gemini_cli"])
def test_gemini_cli_counts_each_message_once(per_line, fmt):
    skips: list = []
    tools, answer = normalise(fixture_lines("gemini_cli.jsonl"), fmt=fmt, per_line=per_line, skips=skips)
    assert skips == []
    # candidates exclude thoughts; tool-use prompt tokens are input (the Gemini rule)
    assert pick(tools, *COUNTS) == dict(prompt_tokens=8461, completion_tokens=159, total_tokens=8620,
                                        cached_tokens=0, cache_write_tokens=0, reasoning_tokens=124,
                                        token_source="actual")
    assert pick(answer, *COUNTS) == dict(prompt_tokens=8752, completion_tokens=58, total_tokens=8810,
                                         cached_tokens=8190, cache_write_tokens=0, reasoning_tokens=0,
                                         token_source="actual")
    assert (tools.model, answer.model, tools.provider) == ("gemini-2.5-pro", "gemini-2.5-flash", "gemini")
    assert tools.request_id == "6a1f0c2e-3b7d-4e58-9c41-2d8e7f3a5b10" and not tools.mismatched
