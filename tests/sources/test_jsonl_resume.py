"""Resuming JSONL sources from checkpoint(): restarts while a writer process appends, files rotated,
copytruncated or recreated while tokentop was stopped, partial and unterminated lines, states that do not
fit, superseding keys (Claude Code), and the progress of reading history."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson

from tests.log_writer import record
from tests.sources.conftest import FAST, assert_exactly_once
from tokentop.config import Config
from tokentop.sources.jsonl import make_source


class Run:
    """A source followed in a task; after each batch its checkpoint is taken, as a consumer would."""

    def __init__(self, path: Any, state: dict[str, Any] | None = None, **options: Any) -> None:
        self.source = make_source("t", {"path": str(path), **FAST, **options}, Config())
        self.restored = None if state is None else self.source.restore(state)
        self.seqs: list[int] = []
        self.state: dict[str, Any] = self.source.checkpoint()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for batch in self.source.batches(follow=True):
            self.seqs += [int(e.request_id[1:]) for e in batch.events]
            self.state = orjson.loads(orjson.dumps(self.source.checkpoint()))  # (JSON, as it is stored)

    async def until(self, seqs: Any, timeout: float = 10.0) -> None:
        wanted = set(seqs)
        try:
            async with asyncio.timeout(timeout):
                while not wanted <= set(self.seqs):
                    if self.task.done():
                        self.task.result()
                    await asyncio.sleep(0.02)
        except TimeoutError:
            missing = sorted(wanted - set(self.seqs))
            raise AssertionError(f"missing {len(missing)}: {missing[:20]}; {self.source.status.to_dict()}") from None

    async def stop(self) -> dict[str, Any]:
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        return self.state


async def read_to_end(path: Any, state: dict[str, Any] | None = None, **options: Any):
    source = make_source("t", {"path": str(path), **options}, Config())
    if state is not None:
        assert source.restore(state)
    seqs = [int(e.request_id[1:]) async for b in source.batches(follow=False) for e in b.events]
    return source, seqs, orjson.loads(orjson.dumps(source.checkpoint()))


async def test_restarts_while_a_writer_appends_read_every_line_once(tmp_path, writer):
    log = tmp_path / "app.jsonl"
    await writer("create", log)
    await writer("stream", log, 0, 1000)
    seqs: list[int] = []
    state = None
    for _ in range(5):
        run = Run(log, state, start="beginning")
        assert run.restored in (None, True)
        await asyncio.sleep(0.4)
        state = await run.stop()  # stopped at any moment: the state is that of the last batch
        seqs += run.seqs
        await asyncio.sleep(0.1)  # lines written while stopped are read by the next run
    last = int(await writer("stop"))
    run = Run(log, state)
    await run.until([last - 1])
    await asyncio.sleep(0.3)
    await run.stop()
    assert_exactly_once(seqs + run.seqs, range(last))


async def test_a_partial_line_at_the_checkpoint_is_read_once_complete(tmp_path, writer):
    log = tmp_path / "app.jsonl"
    await writer("append", log, 0, 2)
    await writer("partial", log, 2)
    run = Run(log, start="beginning")
    await run.until([0, 1])
    state = await run.stop()
    assert state["files"][0]["offset"] == len(record(0) + record(1))  # the partial line is read again
    await writer("finish", log, 2)
    run = Run(log, state)
    await run.until([2])
    assert (await run.stop()) and run.seqs == [2]


async def test_an_unterminated_last_line_counted_at_the_end_is_not_counted_again(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_bytes(record(0) + record(1).rstrip(b"\n"))  # a whole record without its newline
    _, seqs, state = await read_to_end(log)
    assert seqs == [0, 1]
    with log.open("ab") as f:
        f.write(b"\n" + record(2))  # its newline arrives, then more
    _, seqs, state = await read_to_end(log, state)
    assert seqs == [2]
    half = record(3)
    with log.open("ab") as f:
        f.write(half[:20])  # half a record: counted as a skip when read to the end ...
    source, seqs, state = await read_to_end(log, state)
    assert seqs == [] and source.status.skip_reasons == {"invalid_json": 1}
    with log.open("ab") as f:
        f.write(half[20:])  # ... and read whole once it is complete
    _, seqs, _ = await read_to_end(log, state)
    assert seqs == [3]


async def test_copytruncate_while_stopped_the_copy_in_the_glob_gives_the_unread_lines(tmp_path, writer):
    log = tmp_path / "app.jsonl"
    await writer("append", log, 0, 50)
    run = Run(f"{log}*", start="beginning")
    await run.until(range(50))
    state = await run.stop()
    await writer("append", log, 50, 10)  # not read before the copy
    await writer("copytruncate", log)
    await writer("append", log, 60, 5)
    run = Run(f"{log}*", state, start="beginning")
    await run.until(range(50, 65))
    await asyncio.sleep(0.3)
    await run.stop()
    assert_exactly_once(run.seqs, range(50, 65))


async def test_rotation_and_recreation_while_stopped(tmp_path, writer):
    log = tmp_path / "app.jsonl"
    await writer("append", log, 0, 30)
    run = Run(f"{log}*", start="beginning")
    await run.until(range(30))
    state = await run.stop()
    await writer("append", log, 30, 5)
    await writer("rotate", log)  # app.jsonl.1: the same file, under a name the glob matches
    await writer("append", log, 35, 5)  # a new app.jsonl
    run = Run(f"{log}*", state, start="beginning")
    await run.until(range(30, 40))
    state = await run.stop()
    assert_exactly_once(run.seqs, range(30, 40))
    await writer("delete", log)
    await writer("delete", f"{log}.1")
    await writer("append", log, 40, 3)  # a new file (perhaps on a reused inode): other content
    run = Run(f"{log}*", state, start="beginning")
    await run.until(range(40, 43))
    await run.stop()
    assert_exactly_once(run.seqs, range(40, 43))


async def test_a_state_that_does_not_fit_is_ignored_with_a_note(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_bytes(record(0))
    _, _, good = await read_to_end(log)
    bad_states = [
        None, [], "x", {"kind": "sqlite", "version": 1}, {**good, "version": 99},
        {**good, "files": "nope"}, {**good, "files": [{"path": 1}]},
        {**good, "patterns": ["/elsewhere/*.jsonl"]},
        {**good, "files": [{**good["files"][0], "fp": [[5, "not a hash"]]}]},
        {**good, "files": [{**good["files"][0], "offset": -3}]},
        {**good, "decoder": {"keys": "!!", "events": []}},
        json.loads(json.dumps({**good, "decoder": {"keys": "", "events": [["zz", 1, {}]]}})),
    ]
    for bad in bad_states:
        source = make_source("t", {"path": str(log), "start": "beginning"}, Config())
        assert source.restore(bad) is False, bad  # type: ignore[arg-type]
        assert source.status.note and source.status.note.startswith("resume state ignored"), bad
        seqs = [int(e.request_id[1:]) async for b in source.batches(follow=False) for e in b.events]
        assert seqs == [0]  # read by its start policy instead


async def test_a_better_record_after_a_restart_retracts_the_one_counted_before(tmp_path):
    """Claude Code writes a response over several lines; the best is counted. Restarting between
    them must not count the response twice: the superseding keys are part of the state."""
    log = tmp_path / "session.jsonl"

    def line(message_id: str, output: int) -> bytes:
        return transcript_line(message_id, output)

    log.write_bytes(line("msg_1", 5))
    options = {"path": str(log), "format": "claude_code"}
    source = make_source("t", options, Config())
    first = [b async for b in source.batches(follow=False)]
    assert [e.completion_tokens for b in first for e in b.events] == [5]
    state = orjson.loads(orjson.dumps(source.checkpoint()))
    with log.open("ab") as f:
        f.write(line("msg_1", 50) + line("msg_1", 5))  # the complete version, then a repeat
    source = make_source("t", options, Config())
    assert source.restore(state)
    batches = [b async for b in source.batches(follow=False)]
    assert [e.completion_tokens for b in batches for e in b.events] == [50]
    assert [e.completion_tokens for b in batches for e in b.retracted] == [5]
    # a resumed session repeats the response in another file: recognised by its key, not counted
    copy = tmp_path / "resumed.jsonl"
    copy.write_bytes(b'{"type": "summary", "summary": "resumed", "leafUuid": "x"}\n' + line("msg_1", 50))
    state = orjson.loads(orjson.dumps(source.checkpoint()))
    source = make_source("t", {**options, "path": str(tmp_path / "*.jsonl")}, Config())
    state["patterns"] = [str(tmp_path / "*.jsonl")]
    assert source.restore(state)
    batches = [b async for b in source.batches(follow=False)]
    assert [e for b in batches for e in b.events] == [] and not any(b.retracted for b in batches)


async def test_progress_of_reading_history(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_bytes(b"".join(record(i) for i in range(50_000)))
    source = make_source("t", {"path": str(log), "start": "beginning"}, Config())
    assert source.progress is None
    seen = []
    async for _ in source.batches(follow=False):
        seen.append(source.progress)
    assert seen[0].unit == "bytes" and seen[0].total == log.stat().st_size and not seen[0].complete
    assert seen[0].done < seen[-2].done < seen[0].total
    assert source.progress.complete and source.progress.done == log.stat().st_size


async def test_claude_with_two_config_dirs_resumes_both_or_neither(tmp_path, monkeypatch):
    from tokentop.sources import claude

    dirs = [tmp_path / "a" / "projects" / "p", tmp_path / "b" / "projects" / "p"]
    for i, folder in enumerate(dirs):
        folder.mkdir(parents=True)
        (folder / "s.jsonl").write_bytes(transcript_line(f"msg_{i}", 5))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", f"{tmp_path / 'a'},{tmp_path / 'b'}")
    source = claude.make_source("claude", {}, Config())
    assert isinstance(source, claude.MergedSource)
    first = [e.request_id async for b in source.batches(follow=False) for e in b.events]
    assert sorted(first) == ["req-msg_0", "req-msg_1"] and source.progress.complete
    state = orjson.loads(orjson.dumps(source.checkpoint()))
    for folder in dirs:
        with (folder / "s.jsonl").open("ab") as f:
            f.write(transcript_line(f"msg_new_{folder.parent.parent.name}", 7))
    again = claude.make_source("claude", {}, Config())
    assert again.restore(state)
    assert sorted([e.request_id async for b in again.batches(follow=False) for e in b.events]) == [
        "req-msg_new_a", "req-msg_new_b"]
    broken = {**state, "parts": [state["parts"][0], {**state["parts"][1], "files": 7}]}
    neither = claude.make_source("claude", {}, Config())
    assert not neither.restore(broken) and "not a JSONL state" in neither.status.note
    assert all(not s.files.known for s in neither.sources)  # the part that fitted was not applied either


def transcript_line(message_id: str, output: int) -> bytes:
    return orjson.dumps({
        "type": "assistant", "sessionId": "s1", "uuid": f"u-{message_id}-{output}", "requestId": f"req-{message_id}",
        "timestamp": "2026-01-05T10:00:00Z",
        "message": {"id": message_id, "model": "claude-sonnet-4-5", "usage": {
            "input_tokens": 10, "output_tokens": output, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0}}}) + b"\n"
