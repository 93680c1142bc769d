"""File identity pieces on real files: fingerprints (short files, long first lines, copies), the line index
that finds what a truncation kept, and a record glued after a cut line's fragment."""

from __future__ import annotations

import os

from tests.log_writer import record
from tokentop.core.event import SkipRecord
from tokentop.core.lines import LineDecoder, glued_at
from tokentop.sources import fingerprint
from tokentop.sources.fingerprint import FP_BYTES
from tokentop.sources.lineindex import LineIndex
from tokentop.sources.options import normaliser_for
from tokentop.config import Config


def fp_of(path) -> fingerprint.Fingerprint:
    fd = os.open(path, os.O_RDONLY)
    try:
        return fingerprint.of_fd(fd)[0]
    finally:
        os.close(fd)


def test_a_short_copy_and_a_grown_file_are_the_same_content(tmp_path):
    whole = b"".join(record(i) for i in range(20))
    (tmp_path / "a").write_bytes(whole)
    (tmp_path / "copy").write_bytes(whole[: len(record(0)) + 5])  # one line and a bit: copied early
    (tmp_path / "other").write_bytes(record(1) + record(0))
    (tmp_path / "partial").write_bytes(record(0)[:-1])  # no complete line: nothing to recognise yet
    a, copy, other = fp_of(tmp_path / "a"), fp_of(tmp_path / "copy"), fp_of(tmp_path / "other")
    assert a[-1][0] <= FP_BYTES and len(a) > 1 and len(copy) == 1
    assert fingerprint.same(a, copy) and fingerprint.same(copy, a)
    assert not fingerprint.same(a, other)
    assert fp_of(tmp_path / "partial") == () and not fingerprint.same((), a)
    assert fingerprint.from_json(fingerprint.to_json(a)) == a


def test_a_first_line_longer_than_the_fingerprint(tmp_path):
    long_line = b'{"x": "' + b"y" * 3000 + b'"}\n'
    (tmp_path / "a").write_bytes(long_line + record(0))
    (tmp_path / "b").write_bytes(long_line[:2000])
    a = fp_of(tmp_path / "a")
    assert a == ((FP_BYTES, a[0][1]),) and fingerprint.same(a, fp_of(tmp_path / "b"))


def test_the_line_index_finds_what_a_truncation_kept(tmp_path):
    path = tmp_path / "log"
    lines = [record(i) for i in range(3000)]
    data = b"".join(lines)
    path.write_bytes(data)
    index = LineIndex()
    at = 0
    for chunk_lines in (lines[:1000], lines[1000:2000], lines[2000:]):  # three segments, as read
        chunk = b"".join(chunk_lines)
        index.add_lines(at, chunk[:-1].split(b"\n"), at + len(chunk))
        at += len(chunk)
    fd = os.open(path, os.O_RDWR)
    try:
        kept_lines = 1234
        boundary = sum(map(len, lines[:kept_lines]))
        os.truncate(path, boundary + 10)  # inside line 1234, then new records
        os.pwrite(fd, record(90_000) + record(90_001), boundary + 10)
        assert index.truncated(fd, os.fstat(fd).st_size) == boundary
        assert index.end == boundary and index.lines == kept_lines
        os.truncate(path, 0)
        os.pwrite(fd, record(5), 0)
        assert index.truncated(fd, os.fstat(fd).st_size) == 0  # nothing kept: new content
    finally:
        os.close(fd)


def test_a_record_glued_after_a_fragment_is_recovered_and_the_fragment_counted():
    fragment = record(7)[:40]
    assert glued_at(fragment + record(8).rstrip(b"\n")) == len(fragment)
    assert glued_at(b'{"x": {"ts": 1}') == 0  # a corrupted line whose nested object starts otherwise
    assert glued_at(b"garbage {\"ts\": 1}") == 0
    skips: list[SkipRecord] = []
    decoder = LineDecoder(normaliser_for("t", {}, Config()), skips.append)
    events, rest = decoder.decode_chunk(record(1) + fragment + record(8) + b'{"ts": 5, "model": "x", "prompt\n', 0.0)
    assert [e.request_id for e in events] == ["r1", "r8"] and rest == b""
    assert [s.reason for s in skips] == ["truncated_partial_line", "invalid_json"]
