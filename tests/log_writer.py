"""A separate writer process for follow tests: appends sequence-numbered JSONL records and rotates,
truncates, deletes and recreates files the way real loggers and logrotate do.

Reads one command per line on stdin, performs it, and answers ``ok`` on stdout. Commands:
  append PATH FIRST COUNT        records FIRST..FIRST+COUNT-1, one write() per line (O_APPEND)
  partial PATH SEQ               the first half of record SEQ (no newline)
  finish PATH SEQ                the rest of record SEQ, with its newline
  raw PATH HEX                   arbitrary bytes (hex encoded)
  rotate PATH                    rename PATH to PATH.N and create an empty PATH (logrotate "create")
  rotloop PATH FIRST ROUNDS PER  ROUNDS times: append PER records, rotate; records continue from FIRST
  copytruncate PATH              copy PATH to PATH.copyN, then truncate PATH to 0
  truncate PATH                  truncate PATH to 0
  delete PATH / create PATH / mkdir PATH
  symlink LINK TARGET            point LINK at TARGET (atomically, via a temporary link + rename)
"""

from __future__ import annotations

import json
import os
import shutil
import sys

BASE_TS = 1_790_000_000


def record(seq: int) -> bytes:
    return json.dumps({"ts": BASE_TS + seq, "request_id": f"r{seq}", "user": "writer", "model": "gpt-4o",
                       "prompt_tokens": seq, "completion_tokens": 1}).encode() + b"\n"


def write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def append(path: str, first: int, count: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for seq in range(first, first + count):
            os.write(fd, record(seq))
    finally:
        os.close(fd)


rotations: dict[str, int] = {}


def rotate(path: str) -> None:
    rotations[path] = n = rotations.get(path, 0) + 1
    os.rename(path, f"{path}.{n}")
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))


def run(cmd: str, args: list[str]) -> None:
    if cmd == "append":
        append(args[0], int(args[1]), int(args[2]))
    elif cmd == "partial":
        line = record(int(args[1]))
        write(args[0], line[: len(line) // 2])
    elif cmd == "finish":
        line = record(int(args[1]))
        write(args[0], line[len(line) // 2 :])
    elif cmd == "raw":
        write(args[0], bytes.fromhex(args[1]))
    elif cmd == "rotate":
        rotate(args[0])
    elif cmd == "rotloop":
        path, seq, rounds, per = args[0], int(args[1]), int(args[2]), int(args[3])
        for _ in range(rounds):
            append(path, seq, per)
            seq += per
            rotate(path)
    elif cmd == "copytruncate":
        rotations[args[0]] = n = rotations.get(args[0], 0) + 1
        shutil.copyfile(args[0], f"{args[0]}.copy{n}")
        os.truncate(args[0], 0)
    elif cmd == "truncate":
        os.truncate(args[0], 0)
    elif cmd == "delete":
        os.unlink(args[0])
    elif cmd == "create":
        os.close(os.open(args[0], os.O_WRONLY | os.O_CREAT, 0o644))
    elif cmd == "mkdir":
        os.makedirs(args[0], exist_ok=True)
    elif cmd == "symlink":
        tmp = args[0] + ".tmp-link"
        os.symlink(args[1], tmp)
        os.replace(tmp, args[0])
    else:
        raise SystemExit(f"unknown command {cmd!r}")


def main() -> None:
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "quit":
            break
        run(parts[0], parts[1:])
        sys.stdout.write("ok\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
