"""The parts of the ``claude`` preset that do not need the JSONL follower (merged separately)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokentop.config import ConfigError, parse_config
from tokentop.sources.claude import jsonl_options, make_source, project_dirs


def test_defaults_prefer_existing_dirs(tmp_path):
    assert project_dirs({}, {}, tmp_path) == [tmp_path / ".claude" / "projects"]
    (tmp_path / ".config" / "claude" / "projects").mkdir(parents=True)
    assert project_dirs({}, {}, tmp_path) == [tmp_path / ".config" / "claude" / "projects"]
    (tmp_path / ".claude" / "projects").mkdir(parents=True)
    assert len(project_dirs({}, {}, tmp_path)) == 2


def test_env_and_option_override_defaults(tmp_path):
    env = {"CLAUDE_CONFIG_DIR": f"{tmp_path}/a, {tmp_path}/b"}
    assert project_dirs({}, env, tmp_path) == [tmp_path / "a" / "projects", tmp_path / "b" / "projects"]
    assert project_dirs({"path": "/x/projects"}, env, tmp_path) == [Path("/x/projects")]


def test_jsonl_options_follow_the_tree_recursively_with_the_claude_format():
    opts = jsonl_options({"path": "ignored", "start": "beginning", "role": "reference"}, Path("/p"))
    assert opts == {"path": "/p/**/*.jsonl", "start": "beginning", "role": "reference", "format": "claude_code"}


def test_other_formats_and_unknown_options_are_refused():
    with pytest.raises(ConfigError, match="format"):
        make_source("claude", {"format": "app"}, parse_config({}))
    with pytest.raises(ConfigError, match="glob"):
        make_source("claude", {"glob": "x"}, parse_config({}))


class ListSource:
    """A finished source that yields fixed batches (stands in for one folder's follower)."""

    kind = "jsonl"
    role = "primary"

    def __init__(self, name: str, batches: list) -> None:
        from tokentop.sources.base import SourceStatus

        self.name, self._batches = name, batches
        self.status = SourceStatus(name, self.kind)
        self.closed = False
        self.yielded = 0

    async def batches(self, follow: bool):
        for batch in self._batches:
            self.status.saw(batch.events, now=1.0)
            self.yielded += 1
            yield batch
        self.status.state = "done"

    def checkpoint(self) -> dict:
        return {"kind": self.kind, "version": 1, "yielded": self.yielded}

    async def aclose(self) -> None:
        self.closed = True


async def test_merged_source_yields_every_batch_and_sums_status():
    from tokentop.core.event import UsageEvent
    from tokentop.sources.base import Batch
    from tokentop.sources.claude import MergedSource

    def ev(n: int) -> UsageEvent:
        return UsageEvent(ts=float(n), source="claude", total_tokens=n)

    a = ListSource("claude", [Batch(events=[ev(1), ev(2)]), Batch(retracted=[ev(1)])])
    b = ListSource("claude", [Batch(events=[ev(3)])])
    merged = MergedSource("claude", [a, b])
    seen = [batch async for batch in merged.batches(follow=False)]
    assert sorted(e.total_tokens for batch in seen for e in batch.events) == [1, 2, 3]
    assert [e.total_tokens for batch in seen for e in batch.retracted] == [1]
    assert (merged.status.events, merged.status.state, merged.status.last_event_at) == (3, "done", 3.0)
    assert [part["yielded"] for part in merged.checkpoint()["parts"]] == [2, 1]  # each as of its last batch
    await merged.aclose()
    assert a.closed and b.closed
