"""The directory watcher both file followers use: ready once watching, quiet when it cannot watch."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tokentop.sources.filewatch import DirectoryWatcher, Relevance


async def until(condition, timeout: float = 5.0) -> None:  # noqa: ANN001
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_watch_settles_then_wakes_on_a_relevant_change(tmp_path: Path) -> None:
    relevance = Relevance([str(tmp_path / "*.jsonl")])
    watcher = DirectoryWatcher(relevance, asyncio.Event())
    try:
        watcher.watch(frozenset({str(tmp_path)}))
        assert watcher.settling  # followers poll often until the watch is in place
        await until(lambda: watcher.ready)
        assert not watcher.settling and not watcher.wake.is_set()
        (tmp_path / "ignored.txt").write_text("x")
        (tmp_path / "a.jsonl").write_text("{}\n")
        await until(watcher.wake.is_set)
    finally:
        watcher.stop()


async def test_a_watch_that_fails_is_not_retried_at_once_and_does_not_keep_followers_settling(tmp_path: Path) -> None:
    watcher = DirectoryWatcher(Relevance([]), asyncio.Event())
    missing = frozenset({str(tmp_path / "gone")})
    try:
        watcher.watch(missing)
        await until(lambda: watcher.problem is not None)
        assert "not watching directories" in watcher.problem and not watcher.settling
        thread = watcher._thread  # noqa: SLF001
        watcher.watch(missing)  # a follower asks again at its next poll: no new thread yet
        assert watcher._thread is thread  # noqa: SLF001
    finally:
        watcher.stop()
