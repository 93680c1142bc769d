"""Following JSONL files with a real writer process: every record read exactly once through appends,
partial lines, rotation, truncation, deletion, late-appearing files, globs and symlinks."""

from __future__ import annotations

import asyncio
import os

from tests.sources.conftest import assert_exactly_once


async def test_follows_appends_from_the_end(tmp_path, writer, follow):
    log = tmp_path / "app.jsonl"
    await writer("append", log, 0, 10)  # already there: start=end skips these
    f = await follow(log)
    await writer("append", log, 10, 500)
    await f.has(range(10, 510))
    assert_exactly_once(f.seqs, range(10, 510))
    assert f.source.status.state == "ok" and f.source.status.events == 500
    assert f.source.status.detail.startswith("following 1 file")


async def test_partial_line_is_held_until_its_newline(tmp_path, writer, follow):
    log = tmp_path / "app.jsonl"
    await writer("create", log)
    f = await follow(log)
    await writer("append", log, 0, 1)
    await writer("partial", log, 1)
    await f.has([0])
    await asyncio.sleep(0.3)  # several sweeps see the half line
    assert f.seqs == [0] and f.source.status.skipped == 0
    await writer("finish", log, 1)
    await writer("append", log, 2, 1)
    await f.has([1, 2])
    assert_exactly_once(f.seqs, range(0, 3))


async def test_start_end_keeps_a_line_being_written(tmp_path, writer, follow):
    log = tmp_path / "app.jsonl"
    await writer("append", log, 0, 3)
    await writer("partial", log, 3)
    f = await follow(log)
    await writer("finish", log, 3)
    await f.has([3])
    assert_exactly_once(f.seqs, range(3, 4))


async def test_rotation_loop_reads_every_record_once(tmp_path, writer, follow):
    """Like coreutils' inotify-rotate: rename + create, 20 times. Records appended just before each
    rename are unread when it happens and must be drained from the renamed file. The loop waits only
    until the new file has been seen: a file created and rotated away between two looks cannot be
    followed by its name (see the next test and docs/sources-jsonl.md)."""
    log = tmp_path / "app.jsonl"
    await writer("create", log)
    f = await follow(log)
    for round_ in range(20):
        await writer("append", log, round_ * 30, 25)
        await writer("rotate", log)
        await writer("append", log, round_ * 30 + 25, 5)
        await f.has(range(round_ * 30 + 25, round_ * 30 + 30))
    await f.has(range(600))
    assert_exactly_once(f.seqs, range(600))
    await f.until(lambda: not f.source.retired)  # rotated files are let go after rotate_wait
    assert f.source.counters["rotations"] == 20


async def test_rotation_burst_with_rotated_names_matched(tmp_path, writer, follow):
    """When the pattern also matches rotated names, even files rotated away before any look are read,
    and a file seen under its old and new name is read once."""
    log = tmp_path / "app.jsonl"
    await writer("create", log)
    f = await follow(f"{log}*")
    await writer("rotloop", log, 0, 20, 50)  # 20 rotations within one burst, faster than any sweep
    await writer("append", log, 1000, 10)
    expected = [*range(1000), *range(1000, 1010)]
    await f.has(expected)
    assert_exactly_once(f.seqs, range(1010))


async def test_copytruncate_reads_on_from_the_start(tmp_path, writer, follow):
    log = tmp_path / "app.jsonl"
    await writer("create", log)
    f = await follow(log)
    await writer("append", log, 0, 100)
    await f.has(range(100))  # the documented bound: only records not yet read when copied can be lost
    await writer("copytruncate", log)
    await writer("append", log, 100, 40)  # shorter than before: the size shows the truncation
    await f.has(range(100, 140))
    await writer("copytruncate", log)
    await writer("append", log, 140, 300)  # longer than before at once: the changed first bytes show it
    await f.has(range(140, 440))
    assert_exactly_once(f.seqs, range(440))
    assert f.source.counters["truncations"] == 2


async def test_truncate_and_rewrite(tmp_path, writer, follow):
    log = tmp_path / "app.jsonl"
    await writer("create", log)
    f = await follow(log)
    for round_ in range(5):
        await writer("append", log, round_ * 100, 100)
        await f.has(range(round_ * 100, round_ * 100 + 100))
        await writer("truncate", log)
    await writer("append", log, 500, 10)
    await f.has(range(500, 510))
    assert_exactly_once(f.seqs, range(510))
    assert f.source.counters["truncations"] == 5


async def test_delete_and_recreate_drains_the_old_file(tmp_path, writer, follow):
    log = tmp_path / "app.jsonl"
    await writer("create", log)
    f = await follow(log)
    for round_ in range(10):
        await writer("append", log, round_ * 20, 19)
        await writer("delete", log)  # at once: the open descriptor still reads what was left
        await writer("append", log, round_ * 20 + 19, 1)  # recreated
        await f.has([round_ * 20 + 19])
    await f.has(range(200))
    assert_exactly_once(f.seqs, range(200))


async def test_file_and_directory_that_do_not_exist_yet(tmp_path, writer, follow):
    log = tmp_path / "later" / "deeper" / "app.jsonl"
    f = await follow(log)
    assert f.source.status.state == "waiting"  # the same plain status as in snapshot, check and tail
    assert f.source.status.detail == f"waiting for {log} to appear"
    await writer("mkdir", log.parent)
    await writer("append", log, 0, 50)  # a file appearing after start is read from its start
    await f.has(range(50))
    assert_exactly_once(f.seqs, range(50))
    assert f.source.status.state == "ok"


async def test_glob_gains_new_files(tmp_path, writer, follow):
    await writer("append", tmp_path / "a.jsonl", 0, 5)
    f = await follow(tmp_path / "*.jsonl")
    await writer("append", tmp_path / "a.jsonl", 5, 5)
    await writer("append", tmp_path / "b.jsonl", 10, 5)
    await writer("append", tmp_path / "ignored.txt", 100, 5)
    await f.has(range(5, 15))
    await asyncio.sleep(0.2)
    assert_exactly_once(f.seqs, range(5, 15))
    assert "following 2 files" in f.source.status.detail


async def test_symlink_followed_and_retargeted(tmp_path, writer, follow):
    real = tmp_path / "real"
    await writer("mkdir", real)
    await writer("append", real / "one.jsonl", 0, 3)
    link = tmp_path / "current.jsonl"
    await writer("symlink", link, real / "one.jsonl")
    f = await follow(link)
    await writer("append", real / "one.jsonl", 3, 7)  # appends to the target, in another directory
    await f.has(range(3, 10))
    await writer("append", real / "two.jsonl", 10, 5)
    await writer("symlink", link, real / "two.jsonl")  # retargeted: the new file is read from its start
    await f.has(range(10, 15))
    assert_exactly_once(f.seqs, range(3, 15))


async def test_symlink_and_target_are_one_file(tmp_path, writer, follow):
    await writer("append", tmp_path / "a.jsonl", 0, 3)
    os.symlink(tmp_path / "a.jsonl", tmp_path / "b.jsonl")
    f = await follow(tmp_path / "*.jsonl", start="beginning")
    await writer("append", tmp_path / "a.jsonl", 3, 3)
    await f.has(range(6))
    await asyncio.sleep(0.2)
    assert_exactly_once(f.seqs, range(6))


async def test_bad_lines_are_counted_and_following_goes_on(tmp_path, writer, follow):
    log = tmp_path / "app.jsonl"
    await writer("create", log)
    f = await follow(log, max_line_bytes=1000)
    await writer("raw", log, (b"x" * 600).hex())  # an over-long line arriving in pieces
    await writer("raw", log, (b"y" * 600).hex())
    await writer("raw", log, (b"z" * 5000 + b"\n").hex())
    await writer("raw", log, b"\xff\xfe\x00garbage\n".hex())
    await writer("raw", log, b'{"model": "x", "prompt_tokens": 1\n'.hex())
    await writer("raw", log, b"[1, 2]\n".hex())
    await writer("raw", log, b'{"prompt_tokens": "\xc3\x28"}\n'.hex())
    await writer("append", log, 0, 3)
    await f.has(range(3))
    status = f.source.status
    await f.until(lambda: status.skipped == 5)
    assert status.skip_reasons["line_too_long"] == 1
    assert status.skip_reasons["invalid_json"] == 3
    assert status.skip_reasons["not_an_object"] == 1
    assert_exactly_once(f.seqs, range(3))
    assert max(len(t.pending) for t in f.source.live.values()) == 0


async def test_over_long_line_buffer_stays_bounded(tmp_path, writer, follow):
    log = tmp_path / "app.jsonl"
    await writer("create", log)
    f = await follow(log, max_line_bytes=1000)
    for _ in range(20):
        await writer("raw", log, (b"a" * 4000).hex())  # no newline for a long while
    await asyncio.sleep(0.3)
    assert all(len(t.pending) <= 1000 for t in f.source.live.values())
    await writer("raw", log, b"\n".hex())
    await writer("append", log, 0, 2)
    await f.has(range(2))
    assert f.source.status.skip_reasons == {"line_too_long": 1}
