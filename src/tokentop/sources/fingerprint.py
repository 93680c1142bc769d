"""What a log file *is*: a fingerprint of its first bytes, as Vector and Filebeat identify files.

A device/inode pair says which file an open descriptor reads, but once a file is closed (a restart, a
rotated file let go) an inode can be reused, and a copy of a file (copytruncate, ``cp``, a file moved
across file systems) has a new inode with the old content. So a file is recognised by its content: the
hashes of its first whole lines, up to ``FP_BYTES`` bytes. Two files whose common whole-line prefix
hashes equal hold the same content stream.

Short files: a file is fingerprinted as soon as it has one complete line (Vector needs 256 bytes,
Filebeat 1,024: JSONL records carry times and ids, so one whole record is already unique). Until then
it has no fingerprint and is simply read from its start (there is nothing to recognise yet). The
fingerprint grows with the file up to ``FP_BYTES``; two fingerprints are compared on the longest
prefix both cover (each keeps the hash at every line end within it), so a copy made when the file was
short is still recognised. A first line longer than ``FP_BYTES`` is fingerprinted on ``FP_BYTES``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import xxhash

FP_BYTES = 1024
"""Bytes of a file's start its fingerprint covers at most."""

Fingerprint = tuple[tuple[int, str], ...]
"""(prefix length, hash of that prefix) at each line end within the first ``FP_BYTES`` bytes, in
increasing length; empty while the file has no complete line."""

NONE: Fingerprint = ()


def of_bytes(head: bytes) -> Fingerprint:
    """The fingerprint of a file starting with ``head`` (at least ``FP_BYTES`` bytes if the file has)."""
    head = head[:FP_BYTES]
    marks: list[tuple[int, str]] = []
    end = head.find(b"\n")
    while end >= 0:
        marks.append((end + 1, xxhash.xxh3_64_hexdigest(head[: end + 1])))
        end = head.find(b"\n", end + 1)
    if not marks and len(head) == FP_BYTES:  # a first line longer than what is hashed
        marks.append((FP_BYTES, xxhash.xxh3_64_hexdigest(head)))
    return tuple(marks)


def of_fd(fd: int) -> tuple[Fingerprint, bool]:
    """The fingerprint of an open file, and whether it is final (the file has ``FP_BYTES`` bytes:
    appending cannot change it any more)."""
    head = os.pread(fd, FP_BYTES, 0)
    return of_bytes(head), len(head) >= FP_BYTES


def same(a: Fingerprint, b: Fingerprint) -> bool:
    """Whether two fingerprinted files hold the same content over the prefix both cover."""
    if not a or not b:
        return False
    shorter, longer = (a, b) if a[-1][0] <= b[-1][0] else (b, a)
    length, digest = shorter[-1]
    return any(mark == (length, digest) for mark in longer)


def still(fp: Fingerprint, fd: int) -> bool:
    """Whether the open file still starts with the content ``fp`` was taken of (a truncation to a
    shorter prefix than ``fp`` covers, or a rewrite, says no)."""
    if not fp:
        return True
    length, digest = fp[-1]
    head = os.pread(fd, length, 0)
    return len(head) == length and xxhash.xxh3_64_hexdigest(head) == digest


def to_json(fp: Fingerprint) -> list[list[int | str]]:
    return [[length, digest] for length, digest in fp]


def from_json(value: object) -> Fingerprint:
    """A fingerprint from its JSON form; ValueError if it is not one."""
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise ValueError("a fingerprint is a list of [length, hash]")
    marks = []
    last = 0
    for mark in value:
        if not (isinstance(mark, Sequence) and len(mark) == 2 and type(mark[0]) is int
                and isinstance(mark[1], str) and last < mark[0] <= FP_BYTES and len(mark[1]) == 16):
            raise ValueError(f"not a fingerprint mark: {mark!r}"[:80])
        last = mark[0]
        marks.append((mark[0], mark[1]))
    return tuple(marks)
