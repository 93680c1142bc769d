"""A tree of Claude Code transcripts with its truth, as Claude Code writes them: resumed sessions copy
another session's turns, and a response is written as lines of growing output (tests of the backfill
and of ``tail``)."""

from __future__ import annotations

import json
import random
from pathlib import Path


def transcript_line(session: str, msg: str, output: int, ts: str, sidechain: bool = False) -> str:
    return json.dumps({"type": "assistant", "sessionId": session, "uuid": f"u-{msg}-{output}", "timestamp": ts,
                       "isSidechain": sidechain, "requestId": f"req-{msg}",
                       "message": {"id": msg, "model": "claude-sonnet-4-5", "role": "assistant",
                                   "usage": {"input_tokens": 10, "output_tokens": output,
                                             "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000}}})


def claude_tree(root: Path, summaries: bool = True) -> dict[str, int]:
    """Sessions in 6 projects; some sessions resume (copy the start of) a session of another project,
    and a response is written as lines of growing output. Truth: requests and output tokens. Without
    ``summaries`` a resumed session's file starts with the other's lines, as Claude Code writes it: it
    shares its first lines (its fingerprint) with the other file, and is still a file of its own."""
    rng = random.Random(4)
    sessions: list[list[str]] = []
    truth = {"requests": 0, "output": 0}
    for n in range(60):
        lines = [json.dumps({"type": "summary", "summary": f"session {n}", "leafUuid": f"leaf-{n}"})]
        if not summaries:
            lines = [lines[0]] if n % 4 else []  # (sessions[] drops a first line: keep the slicing alike)
        if sessions and n % 4 == 0:
            lines += rng.choice(sessions)[:5]  # a resumed session copies another's turns
        for turn in range(8):
            msg, final = f"msg_{n}_{turn}", rng.randrange(20, 900)
            ts = f"2026-11-{1 + n % 20:02d}T{turn:02d}:{n % 60:02d}:00.000Z"
            lines += [transcript_line(f"s{n}", msg, rng.randrange(1, 9), ts), transcript_line(f"s{n}", msg, final, ts)]
            truth["requests"] += 1
            truth["output"] += final
        folder = root / f"-home-dev-p{n % 6}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"s{n}.jsonl").write_text("\n".join(lines) + "\n")
        sessions.append(lines[1:] if lines and json.loads(lines[0])["type"] == "summary" else lines)
    return truth
