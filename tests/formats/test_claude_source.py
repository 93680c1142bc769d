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
