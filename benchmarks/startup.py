"""Startup benchmark: how fast tokentop starts from the truth on a month of daily-rotated gateway logs,
whole process, side by side with a bare ``msgspec`` decode of every line of the same files.

    PYTHONPATH=src python benchmarks/startup.py [--lines 3200000] [--small 320000] [--runs 3] [--skip-screen]

The history (``benchmarks/history.py``: 30 days ending this hour, the ``gen_jsonl`` mix, ~1 GB for
3.2 M lines; cached in ``benchmarks/.data``) is read by, each in fresh processes, alternating:

* ``bare``: read every file in 1 MiB chunks, split lines, ``msgspec.json.Decoder().decode`` each;
* ``cold wN``: ``tokentop snapshot --json --no-checkpoint --workers N`` -- exact period totals from
  nothing (checked against the generator's own per-user month totals); N = 1 and 2;
* ``warm``: ``tokentop snapshot --json`` from a checkpoint after 1,000 lines were appended to
  today's file (exact totals checked; the lines are cut off again after each run), on the full
  history and on the ``--small`` one (the time must not grow with the history);
* ``screen``: the live app through ``App.run_test`` (160x48), cold (no checkpoint) and warm (from
  the checkpoint of the cold run): seconds from process start until the users panel shows usage
  from the log, until a line written after the start is on screen, and until the history is read
  (then the usage shown is checked exact).

Peak RSS is that of the process and its workers together (their sum, sampled every 50 ms; see wholeproc.timed).
Targets (issue #12): screen <= 1 s cold or warm; warm <= 1 s, flat from 100 MB to 1 GB; cold >= 0.5x
the bare decode; peak RSS <= 100 MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from history import LOG, history  # noqa: E402
from wholeproc import bare_command, timed, tokentop  # noqa: E402

def files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.glob(f"{LOG}*"))


def working_copy(folder: Path, into: Path) -> Path:
    """The history as a run may change it: the rotated files linked (never written), today's copied."""
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    for path in folder.glob(f"{LOG}*"):
        if path.name == LOG:
            shutil.copyfile(path, into / path.name)
        else:
            try:
                os.link(path, into / path.name)
            except OSError:  # another filesystem
                shutil.copyfile(path, into / path.name)
    shutil.copyfile(folder / "truth.json", into / "truth.json")
    return into


def check_totals(snapshot: Path, truth: dict[str, dict[str, int]], extra: int = 0) -> bool:
    """Each user's period tokens in a snapshot are the generator's month totals (plus ``extra`` for the
    appended user)."""
    doc = json.loads(snapshot.read_text())
    got = {u: e["period_tokens"] for u, e in doc["by_user"].items() if e["period_tokens"]}
    want = {u: t["total_tokens"] for u, t in truth.items()}
    if extra:
        want["appended"] = extra
    return got == want


def appended_lines(count: int, now: float) -> bytes:
    return b"".join(b'{"ts": %.3f, "request_id": "app%d", "user": "appended", "provider": "openai", '
                    b'"model": "gpt-4o", "prompt_tokens": 10, "completion_tokens": 5}\n' % (now - 60 + i * 0.01, i)
                    for i in range(count))


class Appended:
    """1,000 lines appended to today's file for one run, cut off again after it."""

    def __init__(self, folder: Path, count: int = 1000) -> None:
        self.path, self.count = folder / LOG, count

    def __enter__(self) -> int:
        self.size = self.path.stat().st_size
        with self.path.open("ab") as out:
            out.write(appended_lines(self.count, time.time()))
        return self.count * 15

    def __exit__(self, *exc: object) -> None:
        os.truncate(self.path, self.size)


def cold_and_bare(folder: Path, truth: dict, runs: int, work: Path) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {"bare": [], "cold w1": [], "cold w2": []}
    pattern = str(folder / f"{LOG}*")
    for run in range(runs):
        for name in results:
            out = work / f"{name.replace(' ', '-')}-{run}.json"
            if name == "bare":
                result = timed(bare_command("msgspec", files(folder)), out)
            else:
                workers = name[-1]
                result = timed(tokentop("snapshot", "--json", "--no-checkpoint", "--workers", workers, pattern), out)
                result["exact"] = check_totals(out, truth)
            results[name].append(result)
            print(f"  {name:8} {result['seconds']:7.2f} s  peak {result['peak_mib']:6.1f} MiB"
                  + (f"  exact totals: {result['exact']}" if "exact" in result else ""), flush=True)
    return results


def warm(folder: Path, truth: dict, runs: int, work: Path) -> list[dict]:
    folder = working_copy(folder, work / f"warm-{folder.name}")
    pattern = str(folder / f"{LOG}*")
    template = work / f"state-{folder.name}"
    if not template.exists():
        timed(tokentop("snapshot", "--json", "--state-dir", str(template), pattern), work / "prepare.json")
    results = []
    for run in range(runs):
        state = work / f"state-run-{run}"
        shutil.rmtree(state, ignore_errors=True)
        shutil.copytree(template, state)
        out = work / f"warm-{folder.name}-{run}.json"
        with Appended(folder) as extra:
            result = timed(tokentop("snapshot", "--json", "--state-dir", str(state), pattern), out)
            result["exact"] = check_totals(out, truth, extra)
        results.append(result)
        print(f"  warm     {result['seconds']:7.2f} s  peak {result['peak_mib']:6.1f} MiB  "
              f"exact totals: {result['exact']}  ({folder.name})", flush=True)
    return results


SCREEN = r"""
import asyncio, json, sys, time
started = float(sys.argv[4])
from pathlib import Path
from tokentop.cli import parse_args
from tokentop.config import Config
from tokentop.resume import source_configs
from tokentop.ui import launch
from tokentop.ui.widgets.requests import RequestsTable
from tokentop.ui.widgets.users import UsersTable

folder, state, truth_file, probes = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), sys.argv[5].split(",")
pattern = str(folder / "gateway.jsonl*")
truth = json.loads(truth_file.read_text())["users"]
probe = probes[-1]

async def main():
    args = parse_args([pattern, "--state-dir", state, "--refresh", "4"])
    app = await launch.start_app(source_configs([pattern], Config()), Config(), args)
    marks = {}
    async with app.run_test(size=(160, 48)) as pilot:
        users, requests = app.query_one(UsersTable), app.query_one(RequestsTable)
        while users.row_count == 0:
            await pilot.pause(0.01)
        marks["first_data"] = time.time() - started
        written = time.time()
        with (folder / "gateway.jsonl").open("ab") as out:
            out.write(b'{"ts": %.3f, "request_id": "%s", "user": "%s", "provider": "openai", '
                      b'"model": "gpt-4o", "prompt_tokens": 3, "completion_tokens": 2}\n'
                      % (written, probe.encode(), probe.encode()))
        index = requests.column_keys().index("user")
        while not any(requests.get_row_at(i)[index].plain == probe for i in range(requests.row_count)):
            await pilot.pause(0.01)
        marks["live_line"] = time.time() - started
        marks["line_to_screen"] = time.time() - written
        while app.snapshot is None or app.snapshot.history is not None or app.backfilling:
            await pilot.pause(0.05)
        await pilot.pause(0.6)
        marks["complete"] = time.time() - started
        shown = {u: s.period_tokens for u, s in app.snapshot.standings.items() if s.period_tokens}
        want = {u: t["total_tokens"] for u, t in truth.items()}
        want.update(dict.fromkeys(probes, 5))
        marks["exact"] = shown == want
    print(json.dumps(marks))

asyncio.run(main())
"""


def screen(folder: Path, runs: int, work: Path) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {"screen cold": [], "screen warm": []}
    for run in range(runs):
        state = work / f"screen-state-{run}"
        shutil.rmtree(state, ignore_errors=True)
        copy = working_copy(folder, work / "screen")
        for turn, name in enumerate(results):  # cold, then warm from the cold run's exit checkpoint
            probes = ",".join(f"probe-{i}" for i in range(turn + 1))
            started = time.time()
            done = subprocess.run([sys.executable, "-c", SCREEN, str(copy), str(state), str(copy / "truth.json"),
                                   repr(started), probes], capture_output=True, text=True, check=True,
                                  env={**os.environ, "PYTHONPATH": str(HERE.parent / "src")})
            marks = json.loads(done.stdout.strip().splitlines()[-1])
            results[name].append(marks)
            print(f"  {name:11} first data {marks['first_data']:5.2f} s, a line written after start on screen "
                  f"at {marks['live_line']:5.2f} s ({marks['line_to_screen']:.2f} s after it was written), "
                  f"history read at {marks['complete']:6.2f} s, exact: {marks['exact']}", flush=True)
    return results


def median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=3_200_000)
    parser.add_argument("--small", type=int, default=320_000, help="a smaller history for the warm restart")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-screen", action="store_true")
    parser.add_argument("--only", choices=("cold", "warm", "screen"), help="one part only")
    args = parser.parse_args()
    big, small = history(args.lines, args.days), history(args.small, args.days)
    truth = {f: json.loads((f / "truth.json").read_text())["users"] for f in (big, small)}
    size = sum(os.path.getsize(f) for f in files(big))
    print(f"history: {big} ({args.lines:,} lines, {size / 2**20:,.0f} MiB in {len(files(big))} files); "
          f"the machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="tt-startup-") as tmp:
        work = Path(tmp)
        part = args.only
        cold: dict[str, list[dict]] = {}
        warm_big: list[dict] = []
        warm_small: list[dict] = []
        shown: dict[str, list[dict]] = {}
        if part in (None, "cold"):
            print("cold, to exact period totals (alternating):")
            cold = cold_and_bare(big, truth[big], args.runs, work)
        if part in (None, "warm"):
            print("warm restart, 1,000 lines appended since the checkpoint:")
            warm_big = warm(big, truth[big], args.runs, work)
            warm_small = warm(small, truth[small], args.runs, work)
        if part in (None, "screen") and not args.skip_screen:
            print("the live screen (run_test):")
            shown = screen(big, args.runs, work)
    print(f"\nsummary (medians of {args.runs}; load now {os.getloadavg()[0]:.1f}):")
    if cold:
        bare = median(cold["bare"], "seconds")
        print(f"  bare msgspec decode     {bare:7.2f} s  {args.lines / bare / 1e3:6.0f} k lines/s")
    for name in ("cold w1", "cold w2") if cold else ():
        rows = cold[name]
        ratios = [b["seconds"] / r["seconds"] for b, r in zip(cold["bare"], rows)]
        print(f"  {name:23} {median(rows, 'seconds'):7.2f} s  {statistics.median(ratios):.2f}x bare (paired)  "
              f"peak {max(r['peak_mib'] for r in rows):5.1f} MiB  exact: {all(r['exact'] for r in rows)}")
    for label, rows in (("warm, 1 GB history", warm_big), ("warm, 100 MB history", warm_small)) if warm_big else ():
        print(f"  {label:23} {median(rows, 'seconds'):7.2f} s  peak {max(r['peak_mib'] for r in rows):5.1f} MiB  "
              f"exact: {all(r['exact'] for r in rows)}")
    for name, rows in shown.items():
        print(f"  {name:23} first data {median(rows, 'first_data'):.2f} s, live line on screen "
              f"{median(rows, 'live_line'):.2f} s, history read {median(rows, 'complete'):.2f} s, "
              f"exact: {all(r['exact'] for r in rows)}")


if __name__ == "__main__":
    main()
