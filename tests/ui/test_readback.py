"""The live screen starts from the truth: on a log with this month's history it shows each user's usage of
the plan period from that history (marked as a lower bound, with a progress bar, while it reads), and a
restart resumes from the checkpoint instead of reading the history again."""

from __future__ import annotations

import random
import time
from datetime import datetime, timezone
from pathlib import Path

import orjson

from tokentop.cli import parse_args
from tokentop.config import parse_config
from tokentop.resume import source_configs
from tokentop.ui import launch
from tokentop.ui.widgets.requests import RequestsTable
from tokentop.ui.widgets.users import UsersTable

from .conftest import wait_for
from .test_app import column, header_text

USERS = ("alice", "bob", "carol", "dave")
LIMIT = 50_000_000


def _month_start(now: float) -> float:
    return datetime.fromtimestamp(now, timezone.utc).replace(day=1, hour=0, minute=0, second=0,
                                                              microsecond=0).timestamp()


def _write_history(path: Path, now: float, lines: int, seed: int = 5) -> dict[str, int]:
    """Last month's records (not in the period) then this month's, oldest first; the period's tokens
    per user, summed here from what was written."""
    rng = random.Random(seed)
    month = _month_start(now)
    truth = dict.fromkeys(USERS, 0)
    with path.open("wb") as out:
        for i in range(lines):
            this_month = i >= lines // 10
            ts = (month + (now - 120 - month) * (i - lines // 10) / (lines - lines // 10) if this_month
                  else month - 3 * 86400 + i)
            user = rng.choice(USERS)
            prompt, completion = rng.randrange(50, 900), rng.randrange(10, 300)
            out.write(orjson.dumps({"ts": ts, "request_id": f"h{seed}-{i}", "user": user, "provider": "openai",
                                    "model": "gpt-4o", "prompt_tokens": prompt, "completion_tokens": completion})
                      + b"\n")
            if this_month:
                truth[user] += prompt + completion
    return truth


async def _app(log: Path, state: Path):  # noqa: ANN202
    config = parse_config({"plans": {"pro": {"limit": LIMIT}}, "users": {"default_plan": "pro"}})
    args = parse_args([str(log), "--refresh", "4", "--state-dir", str(state)])
    return await launch.start_app(source_configs([str(log)], config), config, args)


async def test_the_live_screen_shows_this_months_usage_from_history_and_resumes_from_its_checkpoint(tmp_path):
    now = time.time()
    log = tmp_path / "gateway.jsonl"
    truth = _write_history(log, now, 200_000)
    app = await _app(log, tmp_path / "state")
    headers: list[str] = []
    percents: list[list[str]] = []
    async with app.run_test(size=(160, 48)) as pilot:
        users = app.query_one(UsersTable)

        def caught_up() -> bool:
            headers.append(header_text(app))
            percents.append(column(users, "percent"))
            snap = app.snapshot
            return snap is not None and snap.history is None and len(snap.standings) == len(USERS)

        await wait_for(pilot, caught_up, timeout=60)
        await pilot.pause(0.6)  # a tick after the last batch
        # while it read, a progress bar in the header, and usage shown as a lower bound
        assert any("reading history ▕" in h for h in headers), headers[:3]
        assert any(cell.startswith("≥") for shown in percents for cell in shown), percents[:3]
        # then each user's usage this period, exactly (last month's records are not in it)
        standings = app.snapshot.standings
        assert {u: s.period_tokens for u, s in standings.items()} == truth
        expected = {u: f"{100 * t / LIMIT:.0f}%" for u, t in truth.items()}
        assert dict(zip(column(users, "user"), column(users, "percent"))) == expected
        assert "reading history" not in header_text(app)
        # and what is written now shows up live
        with log.open("ab") as out:
            out.write(orjson.dumps({"ts": time.time(), "request_id": "live1", "user": "erin", "provider": "openai",
                                    "model": "gpt-4o", "prompt_tokens": 7, "completion_tokens": 3}) + b"\n")
        requests = app.query_one(RequestsTable)
        await wait_for(pilot, lambda: "erin" in column(requests, "user"), timeout=10)
    truth["erin"] = 10
    # A restart resumes from the checkpoint written at exit: nothing of the history is read again
    with log.open("ab") as out:
        out.write(orjson.dumps({"ts": time.time(), "request_id": "live2", "user": "erin", "provider": "openai",
                                "model": "gpt-4o", "prompt_tokens": 70, "completion_tokens": 30}) + b"\n")
    truth["erin"] += 100
    again = await _app(log, tmp_path / "state")
    async with again.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: again.snapshot is not None and again.snapshot.history is None
                       and again.snapshot.standings.get("erin") is not None
                       and again.snapshot.standings["erin"].period_tokens == 110, timeout=20)
        assert {u: s.period_tokens for u, s in again.snapshot.standings.items()} == truth
        assert again.sources[0].progress.total < 10_000  # bytes: the two new lines, not the history


async def test_a_history_read_by_worker_processes_fills_the_screen_as_they_go(tmp_path, monkeypatch):
    from tokentop import backfill

    monkeypatch.setattr(backfill, "MIN_BYTES", 1)  # workers even for this small history
    monkeypatch.setattr(backfill, "MIN_SHARE", 1)
    now = time.time()
    truth = dict.fromkeys(USERS, 0)
    for day in range(3):  # three daily files
        part = _write_history(tmp_path / f"part{day}", now, 30_000, seed=day)
        (tmp_path / ("gateway.jsonl" if day == 2 else f"gateway.jsonl-{day}")).write_bytes(
            (tmp_path / f"part{day}").read_bytes())
        (tmp_path / f"part{day}").unlink()
        for user, tokens in part.items():
            truth[user] += tokens
    config = parse_config({"plans": {"pro": {"limit": LIMIT}}, "users": {"default_plan": "pro"}})
    pattern = str(tmp_path / "gateway.jsonl*")
    args = parse_args([pattern, "--refresh", "4", "--state-dir", str(tmp_path / "state"), "--workers", "2"])
    app = await launch.start_app(source_configs([pattern], config), config, args)
    headers: list[str] = []
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: bool(app.backfilling))
        await pilot.pause(0.3)
        with (tmp_path / "gateway.jsonl").open("ab") as out:  # written while the workers read
            out.write(orjson.dumps({"ts": time.time(), "request_id": "now", "user": "erin", "provider": "openai",
                                    "model": "gpt-4o", "prompt_tokens": 7, "completion_tokens": 3}) + b"\n")
        truth["erin"] = 10

        def caught_up() -> bool:
            headers.append(header_text(app))
            snap = app.snapshot
            return (snap is not None and snap.history is None and not app.backfilling
                    and len(snap.standings) == 5 and snap.standings["erin"].period_tokens == 10)

        await wait_for(pilot, caught_up, timeout=60)
        assert any("reading history ▕" in h for h in headers)
        assert {u: s.period_tokens for u, s in app.snapshot.standings.items()} == truth
        assert [e.request_id for e in app.aggregator.recent].count("now") == 1  # shown once, counted once
        assert app.sources[0].status.events == 3 * 30_000 - 3 * 3_000 + 1  # last month's lines are not read back
    # the exit checkpoint holds where the workers (then the source) stopped: a restart reads nothing again
    again = await _app_on(pattern, tmp_path / "state", config)
    async with again.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: again.snapshot is not None and len(again.snapshot.standings) == 5)
        assert {u: s.period_tokens for u, s in again.snapshot.standings.items()} == truth
        assert again.sources[0].progress is None or again.sources[0].progress.total == 0


async def _app_on(pattern: str, state: Path, config):  # noqa: ANN001, ANN202
    args = parse_args([pattern, "--state-dir", str(state)])
    return await launch.start_app(source_configs([pattern], config), config, args)
