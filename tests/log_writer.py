"""A separate writer process for follow tests: appends sequence-numbered JSONL records and rotates,
truncates, deletes and recreates files the way real loggers and logrotate do.

Reads one command per line on stdin, performs it, and answers ``ok`` on stdout. Commands:
  append PATH FIRST COUNT        records FIRST..FIRST+COUNT-1, one write() per line (O_APPEND)
  partial PATH SEQ               the first half of record SEQ (no newline)
  finish PATH SEQ                the rest of record SEQ, with its newline
  raw PATH HEX                   arbitrary bytes (hex encoded)
  rotate PATH [bom]              rename PATH to PATH.N and create an empty PATH (logrotate "create"),
                                 or one holding just a UTF-8 byte order mark
  rotloop PATH FIRST ROUNDS PER  ROUNDS times: append PER records, rotate; records continue from FIRST
  copytruncate PATH              copy PATH to PATH.copyN, then truncate PATH to 0
  truncate PATH                  truncate PATH to 0
  keep PATH FRACTION line|mid    truncate PATH to about FRACTION of its size, at a line boundary or
                                 inside a line; answers ``ok N`` with the sequence numbers of the lines
                                 cut (wholly or partly), comma-separated after N
  bom PATH                       a UTF-8 byte order mark (at the start of a new file)
  copy SRC DST / move SRC DST    copy (a new file) / rename
  delete PATH / create PATH / mkdir PATH
  symlink LINK TARGET            point LINK at TARGET (atomically, via a temporary link + rename)
  stream PATH FIRST RATE         from now on append records FIRST, FIRST+1 ... at RATE lines/s in the
                                 background (one write per line) while other commands run
  stop                           stop streaming; answers ``ok NEXT`` (the next sequence number)
Commands that change a file hold a lock the stream also takes for each line, so the writer's record
of what it wrote (and what a truncation cut) is exact.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
import time

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
lock = threading.Lock()


class Stream:
    """Appends records at a steady rate in a thread until stopped."""

    def __init__(self, path: str, first: int, rate: float) -> None:
        self.path, self.next, self.rate = path, first, rate
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        began, written = time.monotonic(), 0
        while not self.stopping.is_set():
            with lock:
                write(self.path, record(self.next))
                self.next += 1
            written += 1
            delay = began + written / self.rate - time.monotonic()
            if delay > 0:
                self.stopping.wait(delay)

    def stop(self) -> int:
        self.stopping.set()
        self.thread.join()
        return self.next


stream: Stream | None = None


def keep(path: str, fraction: float, mode: str) -> list[int]:
    """Truncate to about ``fraction`` of the size (at a line start, or in the middle of a line);
    the sequence numbers of the lines cut."""
    with open(path, "rb") as f:
        data = f.read()
    at = data.rfind(b"\n", 0, int(len(data) * fraction)) + 1
    cut = data[at:]
    if mode == "mid":
        newline = cut.find(b"\n")
        at += max(1, newline // 2) if newline > 1 else 0
    os.truncate(path, at)
    # (a line may be the fragment an earlier cut left followed by a record: both ids count)
    return [int(seq) for seq in re.findall(rb'"request_id": "r(\d+)"', cut)]


def rotate(path: str, bom: bool = False) -> None:
    rotations[path] = n = rotations.get(path, 0) + 1
    os.rename(path, f"{path}.{n}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    if bom:
        os.write(fd, b"\xef\xbb\xbf")
    os.close(fd)


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
        rotate(args[0], bom=args[1:] == ["bom"])
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
    elif cmd == "bom":
        write(args[0], b"\xef\xbb\xbf")
    elif cmd == "copy":
        shutil.copyfile(args[0], args[1])
    elif cmd == "move":
        os.rename(args[0], args[1])
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
    global stream
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "quit":
            break
        answer = "ok"
        if parts[0] == "stream":
            stream = Stream(parts[1], int(parts[2]), float(parts[3]))
        elif parts[0] == "stop":
            answer = f"ok {stream.stop() if stream is not None else 0}"
            stream = None
        elif parts[0] == "keep":
            with lock:
                cut = keep(parts[1], float(parts[2]), parts[3])
            answer = f"ok {len(cut)} {','.join(map(str, cut))}"
        else:
            with lock:
                run(parts[0], parts[1:])
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()
    if stream is not None:
        stream.stop()


if __name__ == "__main__":
    main()
