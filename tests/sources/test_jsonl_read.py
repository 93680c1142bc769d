"""Reading JSONL files to their end (headless), start positions, and option checking."""

from __future__ import annotations

import orjson
import pytest

from tests.log_writer import record
from tokentop.config import Config, ConfigError
from tokentop.sources.jsonl import MAX_BATCH, make_source
from tokentop.sources.tailer import CHUNK


async def read(path, **options):
    source = make_source("t", {"path": str(path), **options}, Config())
    batches = [b async for b in source.batches(follow=False)]
    return source, batches, [int(e.request_id[1:]) for b in batches for e in b.events]


def write(path, seqs, tail=b""):
    path.write_bytes(b"".join(record(s) for s in seqs) + tail)


async def test_headless_reads_every_file_to_its_end(tmp_path):
    write(tmp_path / "a.jsonl", range(0, 5))
    write(tmp_path / "b.jsonl", range(5, 10), tail=record(10).rstrip(b"\n"))  # last line unterminated
    (tmp_path / "c.jsonl").write_bytes(b'{"model": "half-writ')
    source, _, seqs = await read(tmp_path / "*.jsonl", start="end")  # start applies to following only
    assert sorted(seqs) == list(range(11))
    assert source.status.skip_reasons == {"invalid_json": 1}
    assert source.status.state == "ok" and source.status.events == 11
    assert not source.live  # files closed


async def test_headless_batches_are_bounded(tmp_path):
    # A batch ends at the end of a chunk (so a resume state is exactly what was yielded): at most
    # MAX_BATCH events and one chunk's lines more.
    write(tmp_path / "big.jsonl", range(MAX_BATCH * 4 + 5))
    _, batches, seqs = await read(tmp_path / "big.jsonl")
    per_chunk = CHUNK // len(record(0)) + 1
    assert max(len(b.events) for b in batches) <= MAX_BATCH + per_chunk and len(batches) >= 3
    assert seqs == list(range(MAX_BATCH * 4 + 5))


async def test_headless_since(tmp_path):
    write(tmp_path / "a.jsonl", range(10))
    _, _, seqs = await read(tmp_path / "a.jsonl", start=f"since:{1_790_000_000 + 7}")
    assert seqs == [7, 8, 9]


async def test_missing_file_is_waited_for_when_reading_to_the_end(tmp_path):
    source, batches, _ = await read(tmp_path / "nope.jsonl")
    assert batches == [] and source.status.state == "waiting" and source.status.error is None
    assert source.status.detail == f"waiting for {tmp_path / 'nope.jsonl'} to appear"


async def test_a_directory_given_as_path_is_an_error(tmp_path):
    source, _, _ = await read(tmp_path)
    assert source.status.error == f"not a regular file: {tmp_path}"


@pytest.mark.parametrize(("start", "expected"), [
    ("beginning", list(range(10))), ("end", []), (3, [7, 8, 9]), ("tail:1", [9]), ("tail:0", []),
    ("tail:50", list(range(10))), (f"since:{1_790_000_000 + 8}", [8, 9]),
])
async def test_start_positions_when_following(tmp_path, follow, start, expected):
    write(tmp_path / "a.jsonl", range(10), tail=b'{"partial": ')
    f = await follow(tmp_path / "a.jsonl", start=start)
    await f.until(lambda: len(f.seqs) >= len(expected))
    assert f.seqs == expected


@pytest.mark.parametrize(("options", "key"), [
    ({"path": "x", "colour": 1}, "sources.t.colour"),
    ({"path": "x", "start": "middle"}, "sources.t.start"),
    ({"path": "x", "poll_interval": 0}, "sources.t.poll_interval"),
    ({"path": "x", "max_line_bytes": "big"}, "sources.t.max_line_bytes"),
    ({"path": ""}, "sources.t.path"),
    ({"path": "x", "role": "boss"}, "sources.t.role"),
])
def test_bad_options_name_the_key(options, key):
    with pytest.raises(ConfigError) as err:
        make_source("t", options, Config())
    assert err.value.key == key


async def test_lag_is_how_old_the_newest_record_was_when_read(tmp_path):
    write(tmp_path / "a.jsonl", range(10))  # the newest record is at 1_790_000_009
    source = make_source("t", {"path": str(tmp_path / "a.jsonl")}, Config(), clock=lambda: 1_790_000_069.5)
    assert source.status.lag_seconds is None
    _ = [b async for b in source.batches(follow=False)]
    assert source.status.lag_seconds == 60.5
    assert source.status.to_dict()["lag_seconds"] == 60.5


def dated(seq: int, ts: float) -> bytes:
    return orjson.dumps({"ts": ts, "request_id": f"r{seq}", "user": "u", "model": "gpt-4o",
                         "prompt_tokens": 1, "completion_tokens": 1}) + b"\n"


async def test_since_skips_files_that_end_before_it_and_bisects_a_big_one(tmp_path):
    """A 30-day history in daily files plus one big file: since the last day, older days are not
    read at all and the big file is entered near the time, not decoded from its start."""
    import os

    day0, seq, per_day = 1_767_225_600, 0, 200
    for day in range(30):
        path = tmp_path / f"gw-{day:02d}.jsonl"
        path.write_bytes(b"".join(dated(seq + i, day0 + day * 86400 + i * 400) for i in range(per_day)))
        os.utime(path, (day0 + day * 86400 + 86399, day0 + day * 86400 + 86399))
        seq += per_day
    big = tmp_path / "big.jsonl"  # one file of all 30 days, a line every 20 s (~10 MB)
    big.write_bytes(b"".join(dated(100_000 + i, day0 + i * 20) for i in range(30 * 4320)))
    since = day0 + 29 * 86400
    source, _, seqs = await read(tmp_path / "*.jsonl", start=f"since:{since}")
    expected_daily = list(range(29 * per_day, 30 * per_day))
    expected_big = [100_000 + i for i in range(29 * 4320, 30 * 4320)]
    assert sorted(seqs) == expected_daily + expected_big
    assert source.counters["skipped_files"] == 29
    read_bytes = source.progress.total
    assert read_bytes < (tmp_path / "gw-29.jsonl").stat().st_size + big.stat().st_size / 10


async def test_since_in_a_file_out_of_time_order_keeps_every_record_at_or_after_it(tmp_path):
    # Requests logged when they end: times up to 10 minutes out of order (within the slack).
    import random

    rng = random.Random(5)
    t0 = 1_767_225_600
    lines = [(t0 + i * 2 - rng.uniform(0, 600), i) for i in range(300_000)]
    (tmp_path / "gw.jsonl").write_bytes(b"".join(dated(i, ts) for ts, i in lines))
    since = t0 + 500_000
    _, _, seqs = await read(tmp_path / "gw.jsonl", start=f"since:{since}")
    assert sorted(seqs) == sorted(i for ts, i in lines if ts >= since)
