"""Shared fixtures: every test runs with no user config, its own state dir and its own working directory."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated_config(tmp_path_factory, monkeypatch):
    """A developer's own tokentop.toml or user config dir must never leak into a test."""
    home = tmp_path_factory.mktemp("config-home")
    monkeypatch.setattr("tokentop.config.config_dir", lambda: home)
    monkeypatch.delenv("TOKENTOP_CONFIG", raising=False)
    monkeypatch.delenv("TOKENTOP_HTTP_TOKEN", raising=False)
    # checkpoints go to a folder of the test's own (subprocesses inherit it), never the user's
    monkeypatch.setenv("TOKENTOP_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    return home


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
