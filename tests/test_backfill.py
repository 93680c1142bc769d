"""A large history read on every core: worker processes each read a share of the files; what they counted,
merged, is what one process reading every file counts -- with a request copied into files of two shares
counted once -- and the source then reads on from where they stopped."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from tests.claude_tree import claude_tree
from tokentop import backfill
from tokentop.config import Config
from tokentop.core.aggregate import Aggregator
from tokentop.ingest import drain
from tokentop.resume import source_configs
from tokentop.sources.registry import open_source

WINDOWS = ("24h", "period", "all")


@pytest.fixture(autouse=True)
def small_shares(monkeypatch):
    """Workers even for a small history (the thresholds are sized for real ones)."""
    monkeypatch.setattr(backfill, "MIN_BYTES", 1)
    monkeypatch.setattr(backfill, "MIN_SHARE", 1)


def _gateway_days(folder: Path, days: int = 6, per_day: int = 400) -> None:
    rng = random.Random(2)
    start = time.time() - days * 86400
    for day in range(days):
        name = "gateway.jsonl" if day == days - 1 else f"gateway.jsonl-{day:02d}"
        lines = [json.dumps({"ts": start + day * 86400 + i * 200, "user": f"u{rng.randrange(7)}",
                             "model": rng.choice(["gpt-4o", "gpt-4o-mini"]), "provider": "openai",
                             "prompt_tokens": rng.randrange(900), "completion_tokens": rng.randrange(90)})
                 for i in range(per_day)]
        (folder / name).write_text("\n".join(lines) + "\n")


def _figures(agg: Aggregator, now: float) -> list:
    out = []
    for window in WINDOWS:
        totals, groups = agg.overview(window, now)
        out.append((totals.requests, totals.total_tokens, totals.completion_tokens, round(totals.cost, 6),
                    {u: c.total_tokens for u, c in groups["user"].items()},
                    {m: c.requests for m, c in groups["model"].items()}))
    return out


async def _read(spec_text: str, workers: int | None) -> tuple[Aggregator, object, list[str]]:
    spec = source_configs([spec_text], Config())[0]
    source = open_source(spec, Config())
    agg = Aggregator(clock=time.time)
    notices = await backfill.prefill([source], [spec], Config(), agg, workers=workers) if workers else []
    await drain([source], agg)
    return agg, source, notices


@pytest.mark.parametrize("summaries", [True, False])
async def test_a_transcript_tree_read_by_two_workers_counts_each_response_once(tmp_path, summaries):
    truth = claude_tree(tmp_path / "projects", summaries)
    spec = source_configs([f"claude:{tmp_path / 'projects'}"], Config())[0]
    shares = backfill.plan(open_source(spec, Config()), spec, workers=2)
    assert shares is not None and len(shares) == 2
    deltas = []

    async def counted(delta, retracted) -> None:  # noqa: ANN001
        deltas.append(delta.events)

    result = await backfill.run(spec, Config(), shares, list(open_source(spec, Config()).patterns), counted)
    assert len(deltas) >= 2  # (one at least from each worker, as they went)
    assert result.taken_back and result.lost == 0  # copies across the shares were found and taken back
    parallel, _, notices = await _read(f"claude:{tmp_path / 'projects'}", workers=2)
    alone, _, _ = await _read(f"claude:{tmp_path / 'projects'}", workers=None)
    assert notices == []
    now = time.time()
    assert _figures(parallel, now) == _figures(alone, now)
    totals = parallel.totals("all", now)
    assert (totals.requests, totals.completion_tokens) == (truth["requests"], truth["output"])


async def test_daily_logs_read_by_workers_then_followed_from_where_they_stopped(tmp_path):
    _gateway_days(tmp_path)
    pattern = str(tmp_path / "gateway.jsonl*")
    spec = source_configs([pattern], Config())[0]
    source = open_source(spec, Config())
    agg = Aggregator(clock=time.time)
    assert await backfill.prefill([source], [spec], Config(), agg, workers=2) == []
    assert agg.events == 6 * 400 and source.status.events == 6 * 400
    assert source.status.lag_seconds is not None  # (as a source that read its history itself says)
    with (tmp_path / "gateway.jsonl").open("a") as out:  # written after the workers looked
        out.write(json.dumps({"ts": time.time(), "user": "late", "model": "gpt-4o", "provider": "openai",
                              "prompt_tokens": 5, "completion_tokens": 1}) + "\n")
    await drain([source], agg)
    alone, _, _ = await _read(pattern, workers=None)
    now = time.time()
    assert agg.events == alone.events == 6 * 400 + 1
    assert _figures(agg, now) == _figures(alone, now)


async def test_a_worker_that_fails_leaves_the_history_to_the_source(tmp_path, monkeypatch):
    _gateway_days(tmp_path)
    monkeypatch.setattr(backfill, "WORKER", ("-c", "import sys; sys.exit(3)"))
    agg, source, notices = await _read(str(tmp_path / "gateway.jsonl*"), workers=2)
    assert len(notices) == 1 and "history read in one process" in notices[0] and "exit code" in notices[0]
    assert agg.events == 6 * 400 and source.status.events == 6 * 400


@pytest.mark.parametrize("named", ["projects", "home"])
def test_shares_keep_a_project_together_and_balance_bytes(tmp_path, named):
    claude_tree(tmp_path / "projects")
    folder = tmp_path / "projects" if named == "projects" else tmp_path  # claude:~/.claude/projects or ~/.claude
    spec = source_configs([f"claude:{folder}"], Config())[0]
    shares = backfill.plan(open_source(spec, Config()), spec, workers=2)
    assert shares is not None
    projects = [{Path(f).parent.name for f in share.files} for share in shares]
    assert not projects[0] & projects[1]
    assert min(s.size for s in shares) > 0.3 * sum(s.size for s in shares)
    assert backfill.plan(open_source(spec, Config()), spec, workers=1) is None

