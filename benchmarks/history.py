"""A deterministic gateway history in daily-rotated files, ending now: the startup benchmark's data.

    python benchmarks/history.py [--lines 3200000] [--days 30] [--out DIR]

``gateway.jsonl`` holds today's records (from 00:00 UTC to the current hour), ``gateway.jsonl-YYYYMMDD``
each earlier day's, as logrotate's ``dateext`` leaves them; the glob ``gateway.jsonl*`` follows them
all. The records are ``gen_jsonl``'s mix (three spellings, 1,000 heavy-tailed users, six providers,
~300 bytes a line) at an even rate over the span. The content depends only on ``lines``, ``days``
and the hour it ends at, so a folder generated within the hour is reused (``.data/`` is gitignored).
Also written: ``truth.json``, totals per user of the current UTC calendar month, counted here from
the records as written (not by tokentop).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gen_jsonl import PROVIDERS, PROVIDER_WEIGHTS, _record  # noqa: E402

LOG = "gateway.jsonl"


def hour_now() -> float:
    return float(int(time.time() // 3600) * 3600)


def folder_for(lines: int, days: int, end: float, root: Path | None = None) -> Path:
    stamp = datetime.fromtimestamp(end, timezone.utc).strftime("%Y%m%dT%H")
    return (root or HERE / ".data") / f"history-{lines}-{days}d-{stamp}"


def generate(folder: Path, lines: int, days: int, end: float, seed: int = 20261207) -> dict:
    """Write the files (oldest first) and the month's truth; return the truth."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    users = [f"user_{i:04d}" for i in range(1000)]
    weights = [rng.paretovariate(1.2) for _ in users]
    start = end - days * 86400
    step = (end - start) / lines
    month = datetime.fromtimestamp(end, timezone.utc).replace(day=1, hour=0, minute=0, second=0).timestamp()
    truth: dict[str, dict[str, int]] = {}
    out, day, buffer = None, None, []

    def flush() -> None:
        if out is not None and buffer:
            out.write(b"\n".join(buffer) + b"\n")
            buffer.clear()

    chosen: list[tuple[str, str]] = []
    for n in range(lines):
        if not chosen:  # drawn in blocks: one weighted draw at a time costs more than the record
            block = min(4096, lines - n)
            chosen = list(zip(rng.choices(users, weights, k=block), rng.choices(PROVIDERS, PROVIDER_WEIGHTS, k=block)))
            chosen.reverse()
        user, provider = chosen.pop()
        ts = start + (n + rng.random()) * step
        rec = _record(rng, n, ts, user, provider)
        this_day = datetime.fromtimestamp(ts, timezone.utc).strftime("%Y%m%d")
        if this_day != day:
            flush()
            if out is not None:
                out.close()
            day = this_day
            today = this_day == datetime.fromtimestamp(end - 1, timezone.utc).strftime("%Y%m%d")
            out = open(folder / (LOG if today else f"{LOG}-{this_day}"), "wb")
        buffer.append(orjson.dumps(rec))
        if len(buffer) >= 10_000:
            flush()
        if ts >= month:
            usage = rec.get("usage") or rec
            total = usage.get("total_tokens", usage.get("totalTokens", 0))
            cell = truth.setdefault(user, {"requests": 0, "total_tokens": 0})
            cell["requests"] += 1
            cell["total_tokens"] += total
    flush()
    if out is not None:
        out.close()
    (folder / "truth.json").write_text(json.dumps({"month_start": month, "end": end, "users": truth}))
    return truth


REUSE = 6 * 3600
"""A history ending up to this long ago (in the same month) is used again rather than generated."""


def history(lines: int, days: int, root: Path | None = None) -> Path:
    """The history folder for ``lines`` over ``days`` ending this hour, or a recent one of this month
    (generated when there is none)."""
    end = hour_now()
    month = datetime.fromtimestamp(end, timezone.utc).strftime("%Y%m")
    for hours_ago in range(REUSE // 3600 + 1):
        recent = folder_for(lines, days, end - hours_ago * 3600, root)
        if (recent / "truth.json").exists() and recent.name.split("-")[-1].startswith(month):
            return recent
    folder = folder_for(lines, days, end, root)
    if not (folder / "truth.json").exists():
        print(f"generating {lines:,} lines over {days} days into {folder} ...", file=sys.stderr, flush=True)
        generate(folder, lines, days, end)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=3_200_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--out", type=Path, help="parent folder (default benchmarks/.data)")
    args = parser.parse_args()
    print(history(args.lines, args.days, args.out))


if __name__ == "__main__":
    main()
