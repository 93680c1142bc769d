"""The checkpoint store: where checkpoints live, and that only an intact checkpoint of the same sources,
written with the same counting settings, is ever used -- anything else is refused with a reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tokentop.checkpoint import FULL, MAGIC, RECENT, CheckpointStore, SavedSource, state_dir
from tokentop.config import SourceConfig, parse_config
from tokentop.core import aggstate
from tokentop.core.aggregate import Aggregator


def _store(root: Path, path: str = "logs/app.jsonl", config_text: dict | None = None, **options) -> CheckpointStore:
    spec = SourceConfig("app.jsonl", "jsonl", {"path": path, **options})
    return CheckpointStore(root, [spec], parse_config(config_text or {}))


def _write(store: CheckpointStore, coverage: str = FULL, since: float | None = None) -> None:
    agg = Aggregator()
    saved = [SavedSource({"kind": "jsonl", "version": 1, "files": []}, {"events": 3})]
    assert store.save(coverage, store.new(saved, aggstate.encode(agg.to_state()), since, b"alerts")) is None


def test_the_state_dir_is_the_flag_then_the_environment_then_the_platform_dir(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("TOKENTOP_STATE_DIR", str(tmp_path / "env"))
    assert state_dir(tmp_path / "flag") == tmp_path / "flag"
    assert state_dir() == tmp_path / "env"
    monkeypatch.delenv("TOKENTOP_STATE_DIR")
    assert "tokentop" in str(state_dir()) and state_dir() != Path.cwd()


def test_a_saved_checkpoint_is_found_whole_beside_no_watched_file(tmp_path) -> None:
    store = _store(tmp_path / "state")
    _write(store, since=123.0)
    loaded = store.load(FULL)
    assert loaded.notice is None and loaded.checkpoint is not None
    assert (loaded.checkpoint.since, loaded.checkpoint.alerts) == (123.0, b"alerts")
    assert loaded.checkpoint.sources[0].status == {"events": 3}
    assert store.load(RECENT).checkpoint is None and store.load(RECENT).notice is None  # none there
    written = list((tmp_path / "state").rglob("*"))
    assert [p.name for p in written if p.is_file()] == [store.path(FULL).name]  # no temporary file left
    assert store.path(FULL).stat().st_mode & 0o077 == 0
    assert not (tmp_path / "logs").exists()


def test_the_same_file_through_another_relative_path_is_the_same_source_set(tmp_path, monkeypatch) -> None:
    (tmp_path / "logs").mkdir()
    monkeypatch.chdir(tmp_path)
    here = _store(tmp_path / "state", "logs/app.jsonl")
    monkeypatch.chdir(tmp_path / "logs")
    assert _store(tmp_path / "state", "app.jsonl").path(FULL) == here.path(FULL)
    assert _store(tmp_path / "state", "other.jsonl").path(FULL) != here.path(FULL)


@pytest.mark.parametrize(("damage", "reason"), [
    (lambda data: data[: len(data) // 2], "damaged or truncated"),
    (lambda data: data[:-1] + bytes([data[-1] ^ 1]), "damaged or truncated"),
    (lambda data: b"", "not a tokentop checkpoint"),
    (lambda data: b'{"json": "something else"}', "not a tokentop checkpoint"),
    (lambda data: MAGIC + os.urandom(32) + b"\x93\x01\x02", "damaged or truncated"),
])
def test_a_damaged_checkpoint_is_refused_with_its_reason(tmp_path, damage, reason) -> None:
    store = _store(tmp_path)
    _write(store)
    path = store.path(FULL)
    path.write_bytes(damage(path.read_bytes()))
    loaded = store.load(FULL)
    assert loaded.checkpoint is None and reason in (loaded.notice or "")


def test_a_checkpoint_of_other_sources_copied_in_is_refused(tmp_path) -> None:
    mine, theirs = _store(tmp_path, "logs/app.jsonl"), _store(tmp_path, "elsewhere/app.jsonl")
    _write(theirs)
    mine.path(FULL).write_bytes(theirs.path(FULL).read_bytes())
    loaded = mine.load(FULL)
    assert loaded.checkpoint is None and "belongs to other sources" in (loaded.notice or "")


@pytest.mark.parametrize(("changed", "says"), [
    ({"config_text": {"billing": {"timezone": "Europe/Paris"}}}, "plans or periods"),
    ({"config_text": {"plans": {"pro": {"limit": 5, "period": "day"}}, "users": {"default_plan": "pro"}}},
     "plans or periods"),
    ({"config_text": {"prices": {"gpt-4o": {"input": 1.0, "output": 2.0}}}}, "price overrides"),
    ({"fields": {"user": "meta.account"}}, "source options"),
    ({"format": "openai.chat"}, "source options"),
])
def test_a_checkpoint_written_with_other_counting_settings_is_outdated(tmp_path, changed, says) -> None:
    _write(_store(tmp_path))
    loaded = _store(tmp_path, **changed).load(FULL)
    assert loaded.checkpoint is None and f"outdated (the {says} changed" in (loaded.notice or "")


def test_settings_that_do_not_change_counting_keep_the_checkpoint(tmp_path) -> None:
    _write(_store(tmp_path, config_text={"plans": {"pro": {"limit": 5}}, "users": {"default_plan": "pro"}}))
    kept = _store(tmp_path, config_text={"plans": {"pro": {"limit": 9}}, "users": {"default_plan": "pro"},
                                          "alerts": {"spike": {"factor": 9.0}}, "display": {"theme": "light"}},
                  start="beginning")
    assert kept.load(FULL).checkpoint is not None


def test_another_tokentop_code_makes_it_outdated(tmp_path, monkeypatch) -> None:
    _write(_store(tmp_path))
    monkeypatch.setattr("tokentop.checkpoint.code_digest", lambda: "9.9.9:other")
    loaded = _store(tmp_path).load(FULL)
    assert loaded.checkpoint is None and "tokentop's version or code changed" in (loaded.notice or "")


def test_an_unwritable_state_dir_is_reported_not_raised(tmp_path) -> None:
    (tmp_path / "file").write_text("not a folder")
    store = _store(tmp_path / "file")
    problem = store.save(FULL, store.new([], aggstate.encode(Aggregator().to_state()), None, None))
    assert problem is not None and "cannot write checkpoint" in problem
