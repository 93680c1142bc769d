"""The versioned ``--json`` snapshot contract (docs/snapshot.md): keys, types, null accuracy."""

from __future__ import annotations

import orjson

from tokentop.core.aggregate import Aggregator
from tokentop.core.periods import Period
from tokentop.core.plans import Plan, PlanBook
from tokentop.core.snapshot import SNAPSHOT_VERSION, AlertView, standing_dict, take_snapshot

from .helpers import event

NOW = 1_790_000_000.0
COUNT_KEYS = {"requests", "prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens",
              "cache_write_tokens", "reasoning_tokens", "actual", "estimated", "missing", "mismatched",
              "errors", "cache_hits", "cost", "accuracy"}
STANDING_KEYS = {"plan", "limit", "period_tokens", "period_start", "period_end", "percent",
                 "burn_rate_per_hour", "projected_exhaustion_at"}
SOURCE_STATUS = {"name": "gw", "kind": "jsonl", "status": "ok", "events": 2, "skipped": 1,
                 "skip_reasons": {"invalid_json": 1}, "last_skip": "invalid_json: x", "last_event_at": None,
                 "error": None, "detail": None, "note": None, "lag_seconds": None}


def plans() -> PlanBook:
    month = Period.parse("month")
    return PlanBook({"free": Plan("free", 1000, month)}, {"alice": "free"}, None, month)


def test_document_keys_and_types() -> None:
    agg = Aggregator(plans())
    agg.add(event(NOW - 30, user="alice", provider="openai", model="gpt-4o", platform="ios", source="gw",
                  cost=0.01))
    agg.add(event(NOW - 20, user="bob", provider="anthropic", model="claude-x", source="gw",
                  token_source="estimated"))
    alert = AlertView("provider_silent", "warning", "groq", "no events for 10m", NOW - 600, NOW)
    doc = take_snapshot(agg, NOW, statuses=[SOURCE_STATUS], alerts=[alert]).to_json()
    doc = orjson.loads(orjson.dumps(doc))  # what --json prints: plain JSON values only
    assert set(doc) == {"version", "generated_at", "window", "events_total", "key_cap", "sources", "totals",
                        "by_provider", "by_model", "by_user", "by_platform", "by_source", "alerts"}
    assert doc["key_cap"] == {"max_keys": 10_000, "folded": {"provider": 0, "model": 0, "platform": 0, "user": 0}}
    assert doc["version"] == SNAPSHOT_VERSION == 1
    assert doc["generated_at"] == "2026-09-21T14:13:20.000Z"
    assert (doc["window"], doc["events_total"]) == ("all", 2)
    assert doc["sources"] == [SOURCE_STATUS]
    assert set(doc["totals"]) == COUNT_KEYS
    assert doc["totals"]["requests"] == 2 and doc["totals"]["accuracy"] == 0.5
    assert isinstance(doc["totals"]["cost"], float)
    assert set(doc["by_provider"]) == {"openai", "anthropic"}
    assert set(doc["by_model"]) == {"openai/gpt-4o", "anthropic/claude-x"}
    assert doc["by_model"]["anthropic/claude-x"]["provider"] == "anthropic"
    assert doc["by_model"]["anthropic/claude-x"]["model"] == "claude-x"
    assert set(doc["by_platform"]) == {"ios", ""}
    assert set(doc["by_source"]) == {"gw"}
    alice, bob = doc["by_user"]["alice"], doc["by_user"]["bob"]
    assert set(alice) == COUNT_KEYS | STANDING_KEYS and set(bob) == COUNT_KEYS | STANDING_KEYS
    assert (alice["plan"], alice["limit"], alice["period_tokens"], alice["percent"]) == ("free", 1000, 15, 1.5)
    assert alice["period_start"] == "2026-09-01T00:00:00.000Z" and alice["period_end"] == "2026-10-01T00:00:00.000Z"
    assert isinstance(alice["burn_rate_per_hour"], float)
    assert (bob["plan"], bob["limit"], bob["percent"], bob["projected_exhaustion_at"]) == (None, None, None, None)
    assert doc["alerts"] == [{"rule": "provider_silent", "severity": "warning", "subject": "groq",
                              "message": "no events for 10m", "since": "2026-09-21T14:03:20.000Z",
                              "last_seen": "2026-09-21T14:13:20.000Z", "resolved_at": None}]


def test_empty_snapshot_has_null_accuracy() -> None:
    doc = take_snapshot(Aggregator(), NOW).to_json()
    assert doc["totals"]["requests"] == 0 and doc["totals"]["accuracy"] is None
    assert doc["by_user"] == {} and doc["alerts"] == [] and doc["events_total"] == 0


def test_group_without_actual_requests_has_zero_accuracy_not_null() -> None:
    agg = Aggregator()
    agg.add(event(NOW, provider="groq", token_source="estimated"))
    doc = take_snapshot(agg, NOW).to_json()
    assert doc["by_provider"]["groq"]["accuracy"] == 0.0


def test_window_and_counted_sources() -> None:
    agg = Aggregator()
    agg.add(event(NOW - 7200, source="gw"))
    agg.add(event(NOW - 10, source="gw"))
    agg.add(event(NOW - 10, source="ref"))
    snap = take_snapshot(agg, NOW, window="1h", counted=lambda s: s == "gw")
    doc = snap.to_json()
    assert doc["window"] == "1h" and doc["totals"]["requests"] == 1
    assert set(doc["by_source"]) == {"gw", "ref"}, "by_source shows every source, counted or not"


def test_standing_dict_without_a_standing_has_every_key() -> None:
    assert set(standing_dict(None, NOW)) == STANDING_KEYS


def test_overview_equals_each_grouping_and_totals() -> None:
    import random

    rng = random.Random(3)
    agg = Aggregator()
    for i in range(2000):
        agg.add(event(NOW - rng.randrange(7200), user=f"u{rng.randrange(30)}", source=rng.choice(["a", "b", "ref"]),
                      provider=rng.choice(["openai", "groq"]), model=rng.choice(["m1", "m2"]),
                      platform=rng.choice(["ios", None]), prompt_tokens=rng.randrange(100),
                      token_source=rng.choice(["actual", "estimated", "missing"])))
    counted = lambda s: s != "ref"  # noqa: E731
    for window in ("5m", "1h", "24h", "period", "all"):
        totals, groups = agg.overview(window, NOW, counted)
        assert totals == agg.totals(window, NOW, counted)
        for name in ("provider", "model", "user", "platform"):
            assert groups[name] == agg.group(name, window, NOW, counted), (window, name)
        assert groups["source"] == agg.group("source", window, NOW)
