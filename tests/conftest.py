"""Shared fixtures: every test runs with no user config, its own state dir and its own working directory."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# Property tests (tests/core/test_properties.py): a modest, repeatable run by default (the suite's time
# budget); HYPOTHESIS_PROFILE=thorough explores far more, with fresh examples each run.
settings.register_profile("default", max_examples=60, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("thorough", max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", 5000)), deadline=None,
                          database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


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


# -- a real PostgreSQL server (tests/pg_server.py) ------------------------------------------------------

REQUIRE_POSTGRES = "TOKENTOP_REQUIRE_POSTGRES"
"""Set (by .ci/run) to make the PostgreSQL tests fail, not skip, when no server can be started."""


@pytest.fixture(scope="session")
def pg_server():
    """One server for the session: initdb in a temporary directory, 127.0.0.1, a free port."""
    import os

    from tests.pg_server import NO_SERVER, PgServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        if os.environ.get(REQUIRE_POSTGRES):
            pytest.fail(f"{NO_SERVER} ({REQUIRE_POSTGRES} is set: .ci/run installs the postgresql package)")
        pytest.skip(NO_SERVER)
    server = PgServer(bindir)
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def pg_db(pg_server, request):
    """A fresh database on the session's server (its name from the test), dropped afterwards."""
    import re
    import uuid

    name = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40] + "_" + uuid.uuid4().hex[:6]
    pg_server.create_database(name)
    yield pg_server.database(name)
    try:
        pg_server.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception:  # noqa: BLE001 - a restarted server may still be coming up
        pass
