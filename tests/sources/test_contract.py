"""The resume contract of ``sources.base.Source``, for every registered kind: ``checkpoint()`` is a small
JSON dict naming its kind and version, a source takes its own kind's state back, ignores another's with a
note (never raising), accepts the ``start`` option, and has no progress before reading. A new kind is
added to ``OPTIONS`` here (the test fails until it is)."""

from __future__ import annotations

import orjson
import pytest

from tokentop.config import Config
from tokentop.sources.base import STATE_VERSION
from tokentop.sources.registry import KINDS, load_kind


def options(kind: str, tmp_path) -> dict:
    return {
        "jsonl": {"path": str(tmp_path / "*.jsonl")},
        "sqlite": {"path": str(tmp_path / "ledger.db")},
        "http": {"url": "http://127.0.0.1:9/usage"},
        "claude": {"path": str(tmp_path / "projects")},
        "codex": {"path": str(tmp_path / "codex")},
        "gemini-cli": {"path": str(tmp_path / "gemini")},
        "postgres": {"dsn": "postgresql://tokentop@127.0.0.1:9/usage?table=usage_logs"},
        "otlp": {"listen": "127.0.0.1:0"},
    }[kind]


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("start", ["end", "beginning", "tail:5", 3, "since:2026-01-01T00:00:00Z"])
def test_every_kind_keeps_the_resume_contract(kind, start, tmp_path):
    make = load_kind(kind)
    source = make("s", {**options(kind, tmp_path), "start": start}, Config())
    assert source.progress is None
    state = source.checkpoint()
    assert orjson.loads(orjson.dumps(state)) == state and len(orjson.dumps(state)) < 4096
    assert state["version"] == STATE_VERSION and state["kind"] == source.kind
    again = make("s", options(kind, tmp_path), Config())
    assert again.restore(state) is True and again.status.note is None
    foreign = make("s", options(kind, tmp_path), Config())
    for bad in ({"kind": "elsewhere", "version": STATE_VERSION}, {**state, "version": STATE_VERSION + 1}, None, 7):
        assert foreign.restore(bad) is False
        assert foreign.status.note.startswith("resume state ignored")
