"""The ``codex`` and ``gemini-cli`` presets on real session trees (issue 15, point 7).

The Codex trees reproduce what the CLI versions write (shared/reference/usage-formats.md §8.8, ccusage
#897, #1288, #1349): repeated ``token_count`` events, 0.144 forks that copy the parent's history into
the new file, 0.171 forks that copy nothing but continue the parent's cumulative total, resumes that
append to a file, and archived sessions. Expected totals are the distinct model responses, added up
here by hand.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import orjson
import pytest

from tokentop.cli import main
from tokentop.config import Config, ConfigError, parse_config
from tokentop.core.event import event_to_dict
from tokentop.core.lines import LineDecoder
from tokentop.core.normalise import NormaliseOptions, Normaliser
from tokentop.sources.codex import codex_home
from tokentop.sources.codex import make_source as make_codex
from tokentop.sources.registry import classify, open_source

from codex_lines import context, meta, message, plus, token_count, usage

P, C, G, D, Q = ("019a9776-0000-7000-8000-00000000000" + c for c in "pcgdq")
A, B = usage(9000, 3000, 400, 256), usage(9800, 8960, 250, 64)
DELTA_C, DELTA_G = usage(11000, 10200, 300, 0), usage(12000, 11800, 120, 0)
DELTA_D = usage(10400, 9000, 500, 128, write=1200)
DELTA_Q = usage(3000, 0, 800, 600)
RESPONSES = [A, B, DELTA_C, DELTA_G, DELTA_D, DELTA_Q]


def parent_history(day: str) -> list[str]:
    """P's events as its own file has them, or as a 0.144 fork replays them (dated the fork's day)."""
    return [context(f"{day}:41.000Z", "gpt-5-codex"), token_count(f"{day}:41.200Z", None),
            token_count(f"{day}:52.300Z", A, A), message(f"{day}:52.310Z", "Running the tests."),
            token_count(f"{day}:52.900Z", A, A),  # a repeat with unchanged totals
            token_count(f"{day}:59.000Z", plus(A, B), B)]


def child_history(day: str) -> list[str]:
    return [context(f"{day}:10.000Z", "gpt-5"), token_count(f"{day}:20.000Z", plus(A, B, DELTA_C), DELTA_C)]


def codex_tree(home: Path) -> None:
    """Every version's way of writing sessions, forks and archives, in one Codex home."""
    files = {
        f"sessions/2025/11/18/rollout-2025-11-18T21-55-40-{P}.jsonl":
            [meta("2025-11-18T21:55:40.123Z", P, "0.144.2"), *parent_history("2025-11-18T21:55")],
        f"sessions/2025/11/19/rollout-2025-11-19T09-00-00-{C}.jsonl":  # 0.144 fork: child, parent, replay
            [meta("2025-11-19T09:00:00.000Z", C, "0.144.2", forked=P), meta("2025-11-18T21:55:40.123Z", P, "0.144.2"),
             *parent_history("2025-11-19T09:00"), *child_history("2025-11-19T09:01")],
        f"sessions/2025/11/19/rollout-2025-11-19T10-00-00-{G}.jsonl":  # a fork of the fork: three headers
            [meta("2025-11-19T10:00:00.000Z", G, "0.144.2", forked=C),
             meta("2025-11-19T09:00:00.000Z", C, "0.144.2", forked=P), meta("2025-11-18T21:55:40.123Z", P, "0.144.2"),
             *parent_history("2025-11-19T10:00"), *child_history("2025-11-19T10:00"),
             token_count("2025-11-19T10:02:00.000Z", plus(A, B, DELTA_C, DELTA_G), DELTA_G)],
        f"sessions/2025/11/20/rollout-2025-11-20T08-00-00-{D}.jsonl":  # 0.171 fork: nothing copied
            [meta("2025-11-20T08:00:00.000Z", D, "0.171.0", forked=P, history_base=f"{P}:6"),
             context("2025-11-20T08:00:01.000Z", "gpt-5-codex"),
             token_count("2025-11-20T08:00:09.000Z", plus(A, B, DELTA_D), DELTA_D, ordinal=3),
             '{"timestamp":"2025-11-20T08:00:09.001Z","ordinal":4,"type":"token_usage_record","payload":'
             '{"response_id":"resp_0d1f","token_usage":' + json.dumps(DELTA_D) + "}}\n"],
        f"archived_sessions/rollout-2025-11-01T12-00-00-{Q}.jsonl":
            [meta("2025-11-01T12:00:00.000Z", Q, "0.58.0"), context("2025-11-01T12:00:01.000Z", "o3"),
             token_count("2025-11-01T12:00:30.000Z", DELTA_Q, DELTA_Q)],
    }
    for name, lines in files.items():
        path = home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(lines))


def expected_by_model() -> dict[str, dict[str, int]]:
    models = {"gpt-5-codex": [A, B, DELTA_D], "gpt-5": [DELTA_C, DELTA_G], "o3": [DELTA_Q]}
    return {f"openai/{m}": {"requests": len(us), "prompt_tokens": sum(u["input_tokens"] for u in us),
                            "completion_tokens": sum(u["output_tokens"] for u in us),
                            "cached_tokens": sum(u["cached_input_tokens"] for u in us),
                            "reasoning_tokens": sum(u["reasoning_output_tokens"] for u in us)}
            for m, us in models.items()}


def snapshot(capsys, *args: str) -> dict:
    assert main(["snapshot", "--json", *args]) == 0
    return orjson.loads(capsys.readouterr().out)


def test_codex_snapshot_counts_each_response_once_across_forks_resumes_and_archives(tmp_path, capsys):
    codex_tree(tmp_path)
    doc = snapshot(capsys, f"codex:{tmp_path}")
    got = {key: {k: e[k] for k in ("requests", "prompt_tokens", "completion_tokens", "cached_tokens",
                                   "reasoning_tokens")} for key, e in doc["by_model"].items()}
    assert got == expected_by_model()
    assert doc["totals"]["requests"] == len(RESPONSES)
    assert doc["totals"]["total_tokens"] == sum(u["total_tokens"] for u in RESPONSES)
    assert doc["totals"]["cache_write_tokens"] == 1200
    (source,) = doc["sources"]
    assert (source["kind"], source["skipped"]) == ("codex", 0)


def test_codex_copies_read_before_their_original_are_dated_by_the_original(tmp_path):
    """A fork's file read before its parent's (another folder, or the parent appears later): the
    copies are counted at first, then replaced by the parent's own, earlier lines."""
    codex_tree(tmp_path)
    child = (tmp_path / f"sessions/2025/11/19/rollout-2025-11-19T09-00-00-{C}.jsonl").read_bytes().splitlines()
    parent = (tmp_path / f"sessions/2025/11/18/rollout-2025-11-18T21-55-40-{P}.jsonl").read_bytes().splitlines()
    for per_line in (False, True):
        events = normalise(child + parent, fmt="codex", per_line=per_line)
        assert sorted(e.prompt_tokens for e in events) == sorted([A["input_tokens"], B["input_tokens"],
                                                                  DELTA_C["input_tokens"]])
        dated = {e.prompt_tokens: event_to_dict(e)["ts"] for e in events}
        assert dated[A["input_tokens"]] == "2025-11-18T21:55:52.300Z"  # the parent's, not the replay's


def test_codex_home_option_env_and_default(tmp_path):
    assert codex_home({}, {}, tmp_path) == tmp_path / ".codex"
    assert codex_home({}, {"CODEX_HOME": "/srv/codex"}, tmp_path) == Path("/srv/codex")
    assert codex_home({"path": "/x"}, {"CODEX_HOME": "/srv/codex"}, tmp_path) == Path("/x")
    assert classify("codex") == ("codex", {}) and classify("codex:/x") == ("codex", {"path": "/x"})
    assert classify("gemini-cli:/g") == ("gemini-cli", {"path": "/g"})


def test_codex_preset_options_are_checked():
    with pytest.raises(ConfigError, match="format"):
        make_codex("codex", {"format": "app"}, parse_config({}))
    with pytest.raises(ConfigError, match="unknown source option"):
        make_codex("codex", {"glob": "x"}, parse_config({}))
    config = parse_config({"sources": {"agent": {"kind": "codex", "path": "/nowhere", "role": "reference"}}})
    source = open_source("agent", config)
    assert (source.kind, source.role) == ("codex", "reference")


def normalise(lines: list[bytes], fmt: str, per_line: bool) -> list:
    """Events minus retractions, the lines delivered in one batch or one by one."""
    decoder = LineDecoder(Normaliser(NormaliseOptions(source="t", format=fmt)), print)
    kept: list = []
    for batch in ([line] for line in lines) if per_line else [lines]:
        kept += decoder.decode(batch, read_time=1_800_000_000.0)
        for gone in decoder.take_retractions():
            kept.remove(next(e for e in kept if event_to_dict(e) == event_to_dict(gone)))
    return kept


class Applied:
    """What an aggregator would hold from a followed source: events minus retractions."""

    def __init__(self, source) -> None:
        self.source, self.events = source, []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for batch in self.source.batches(follow=True):
            self.events += batch.events
            for gone in batch.retracted:
                match = event_to_dict(gone)
                del self.events[next(i for i, e in enumerate(self.events) if event_to_dict(e) == match)]

    async def until(self, condition, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.task.done():
                self.task.result()
            assert time.monotonic() < deadline, f"timed out with {len(self.events)} events"
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def test_following_codex_while_it_writes_forks_and_archives(tmp_path, writer):
    """Another process writes a session line by line; the session is archived (moved) while followed;
    a 0.144 fork then replays its history into a new file: each response counts once."""
    day = tmp_path / "sessions" / "2025" / "11" / "21"
    await writer("mkdir", day)
    await writer("mkdir", tmp_path / "archived_sessions")
    source = make_codex("codex", {"path": str(tmp_path), "start": "beginning"}, Config())
    applied = Applied(source)
    await applied.until(lambda: source.status.state != "starting")
    session = day / f"rollout-2025-11-21T08-00-00-{P}.jsonl"
    lines = [meta("2025-11-21T08:00:00.000Z", P, "0.144.2"), *parent_history("2025-11-21T08:00")]
    for text in lines:
        await writer("raw", session, text.encode().hex())
    await applied.until(lambda: len(applied.events) == 2)
    archived = tmp_path / "archived_sessions" / session.name
    os.rename(session, archived)
    fork = day / f"rollout-2025-11-21T09-00-00-{C}.jsonl"
    for text in [meta("2025-11-21T09:00:00.000Z", C, "0.144.2", forked=P), meta("2025-11-21T08:00:00.000Z", P, "0.144.2"),
                 *parent_history("2025-11-21T09:00"), *child_history("2025-11-21T09:01")]:
        await writer("raw", fork, text.encode().hex())
    await applied.until(lambda: len(applied.events) == 3)
    await asyncio.sleep(1.5)  # a sweep or two more: nothing else may arrive
    await applied.stop()
    assert sorted(e.prompt_tokens for e in applied.events) == sorted(u["input_tokens"] for u in (A, B, DELTA_C))
    assert source.status.skipped == 0


def gemini_tree(home: Path) -> Path:
    chats = home / "tmp" / "79b6fa86e3c0d31765c7e3c6de511a7b96342a2e947135d5db396e49e27020cd" / "chats"
    chats.mkdir(parents=True)
    fixture = Path(__file__).resolve().parents[1] / "formats" / "fixtures" / "gemini_cli.jsonl"
    session = chats / "session-2025-10-18T14-57-f86f5318.jsonl"
    session.write_bytes(fixture.read_bytes())
    subagent = chats / "f86f5318-f47b-4433-85f8-ec9d9a417f8e" / "a3c1d2e4.jsonl"
    subagent.parent.mkdir()
    subagent.write_text(json.dumps({"sessionId": "a3c1d2e4", "projectHash": "79b6", "startTime": "2025-10-18T14:57:35Z",
                                    "lastUpdated": "2025-10-18T14:57:35Z", "kind": "subagent"}) + "\n"
                        + json.dumps({"id": "sub-1", "timestamp": "2025-10-18T14:57:36.000Z", "type": "gemini",
                                      "content": "done", "model": "gemini-2.5-flash",
                                      "tokens": {"input": 1000, "output": 20, "cached": 0, "thoughts": 10,
                                                 "tool": 0, "total": 1030}}) + "\n")
    (chats / "session-2025-09-01T10-00-legacy01.json").write_text('{"sessionId": "legacy", "messages": []}')
    return session


def test_gemini_cli_snapshot_reads_sessions_and_subagents(tmp_path, capsys):
    gemini_tree(tmp_path)
    doc = snapshot(capsys, f"gemini-cli:{tmp_path}")
    assert doc["by_model"]["gemini/gemini-2.5-pro"]["requests"] == 1
    assert doc["by_model"]["gemini/gemini-2.5-flash"]["requests"] == 2
    assert doc["totals"]["total_tokens"] == 8620 + 8810 + 1030
    assert doc["sources"][0]["skipped"] == 0 and doc["sources"][0]["kind"] == "gemini-cli"


def test_codex_sessions_whose_responses_happen_to_match_are_all_counted(tmp_path, capsys):
    """Two unrelated sessions starting alike (the same prompt on the same repository): their first
    responses have equal usage and equal cumulative totals; they are different responses."""
    for n, session in enumerate((P, Q)):
        path = tmp_path / "sessions" / "2025" / "11" / "22" / f"rollout-2025-11-22T0{n}-00-00-{session}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(meta(f"2025-11-22T0{n}:00:00.000Z", session, "0.58.0")
                        + context(f"2025-11-22T0{n}:00:01.000Z", "gpt-5-codex")
                        + token_count(f"2025-11-22T0{n}:00:09.000Z", A, A))
    assert snapshot(capsys, f"codex:{tmp_path}")["totals"]["requests"] == 2
