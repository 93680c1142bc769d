"""Files recognised by content while a real writer process appends ~1,000 lines/s: truncations that keep
a prefix, copytruncate with the copy in the glob, rotated files coming back under another name, files
recreated with new content, and a UTF-8 byte order mark. Every line written is read exactly once
(a truncation may only lose the lines it cut before they were read)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from tests.log_writer import record
from tests.sources.conftest import assert_exactly_once
from tokentop.config import Config
from tokentop.sources.jsonl import make_source

RATE = 1000


def assert_once_except_cut(seqs: list[int], written: range, cut: set[int]) -> None:
    """Each line written read once; a line a truncation cut may be missing (if it was not read yet)."""
    counts = Counter(seqs)
    dupes = sorted(s for s, n in counts.items() if n > 1)
    missing = [s for s in written if counts[s] == 0 and s not in cut]
    extra = [s for s in counts if s not in written]
    assert not dupes and not missing and not extra, (
        f"duplicated {len(dupes)} {dupes[:10]}, missing {missing[:10]}, unexpected {extra[:10]}")


async def test_truncation_keeping_a_prefix_continues_after_it(tmp_path, writer, follow):
    """A file truncated to a line boundary, or inside a line, and appended to: the kept lines are not
    read again, and the first record after a cut line's fragment is read (resynced)."""
    log = tmp_path / "app.jsonl"
    await writer("create", log)
    f = await follow(log, start="beginning")
    await writer("stream", log, 0, RATE)
    rng = random.Random(12)
    cut: set[int] = set()
    for round_ in range(10):
        await asyncio.sleep(0.3)
        answer = await writer("keep", log, round(rng.uniform(0.2, 0.9), 2), "mid" if round_ % 2 else "line")
        cut.update(int(s) for s in answer.partition(" ")[2].split(",") if s)
    await asyncio.sleep(0.3)
    last = int(await writer("stop"))
    await f.has([s for s in range(last) if s not in cut], timeout=15)
    await asyncio.sleep(0.3)
    assert_once_except_cut(f.seqs, range(last), cut)
    assert f.source.counters["truncations"] == 10
    assert f.source.status.skip_reasons["invalid_json"] == 0  # every cut line's fragment was resynced


async def test_copytruncate_with_the_copy_in_the_glob_reads_every_line_once(tmp_path, writer, follow):
    log = tmp_path / "app.jsonl"
    await writer("create", log)
    f = await follow(f"{log}*", start="beginning")
    await writer("stream", log, 0, RATE)
    for _ in range(6):
        await asyncio.sleep(0.4)
        await writer("copytruncate", log)  # copies to app.jsonl.copyN, which the glob matches
    await asyncio.sleep(0.3)
    last = int(await writer("stop"))
    await f.has(range(last), timeout=15)
    await asyncio.sleep(0.5)  # a copy read twice would show by now
    assert_exactly_once(f.seqs, range(last))
    assert f.source.counters["truncations"] == 6


async def test_a_rotated_file_coming_back_under_another_name_is_not_read_again(tmp_path, writer, follow):
    log = tmp_path / "app.jsonl"
    await writer("create", log)
    f = await follow(tmp_path / "*.jsonl", start="beginning")
    await writer("stream", log, 0, RATE)
    await asyncio.sleep(0.4)
    await writer("rotate", log)  # app.jsonl.1: out of the glob, drained, then let go
    await asyncio.sleep(0.8)
    assert not f.source.retired
    await writer("copy", f"{log}.1", tmp_path / "archive-1.jsonl")  # a new file holding read content
    await writer("move", f"{log}.1", tmp_path / "app-old.jsonl")  # and the rotated file itself, renamed
    await asyncio.sleep(0.4)
    last = int(await writer("stop"))
    await f.has(range(last), timeout=15)
    await asyncio.sleep(0.5)
    assert_exactly_once(f.seqs, range(last))


async def test_a_recreated_file_with_new_content_is_read_from_its_start(tmp_path, writer, follow):
    log = tmp_path / "app.jsonl"
    await writer("append", log, 0, 50)
    f = await follow(log, start="beginning")
    await f.has(range(50))
    await writer("delete", log)
    await writer("stream", log, 50, RATE)  # a new file at the same name (its inode may be reused)
    await asyncio.sleep(0.5)
    last = int(await writer("stop"))
    await f.has(range(last), timeout=15)
    assert_exactly_once(f.seqs, range(last))


async def test_a_byte_order_mark_is_skipped_when_following(tmp_path, writer, follow):
    log = tmp_path / "app.jsonl"
    await writer("bom", log)
    await writer("append", log, 0, 3)
    f = await follow(log, start="beginning")
    await writer("append", log, 3, 2)
    await f.has(range(5))
    assert_exactly_once(f.seqs, range(5))
    assert f.source.status.skipped == 0, f.source.status.skip_reasons
    # a copytruncate starts the file anew: a mark at its new start is skipped too
    await writer("copytruncate", log)
    await writer("bom", log)
    await writer("append", log, 5, 2)
    await f.has(range(7))
    assert f.source.status.skipped == 0, f.source.status.skip_reasons


async def test_a_byte_order_mark_is_skipped_when_reading_to_the_end(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_bytes(b"\xef\xbb\xbf" + record(0) + record(1))
    source = make_source("t", {"path": str(log)}, Config())
    seqs = [int(e.request_id[1:]) async for b in source.batches(follow=False) for e in b.events]
    assert seqs == [0, 1] and source.status.skipped == 0, source.status.skip_reasons
