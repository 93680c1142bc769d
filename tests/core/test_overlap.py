"""Requests counted once across counted sources (issue 15, point 11): the pure ``RequestOverlap``."""

from __future__ import annotations

from core.helpers import event

from tokentop.core.aggregate import Aggregator
from tokentop.core.overlap import RequestOverlap
from tokentop.core.snapshot import take_snapshot
from tokentop.ingest import apply_batch
from tokentop.sources.base import Batch

T = 1_790_000_000.0


def ev(source: str, request_id: str | None, ts: float = T, tokens: int = 100, **fields):
    return event(ts, source=source, request_id=request_id, prompt_tokens=tokens, completion_tokens=0, **fields)


def totals(agg: Aggregator, *counted: str) -> tuple[int, int]:
    snap = take_snapshot(agg, T + 60, counted=set(counted).__contains__, recent=0)
    return snap.totals.requests, snap.totals.total_tokens


def test_a_request_two_sources_deliver_counts_once_and_the_overlap_is_kept():
    overlap, agg = RequestOverlap(["gw", "ledger"]), Aggregator()
    apply_batch(agg, Batch(events=[ev("gw", "req-a"), ev("gw", "req-b"), ev("gw", None)]), overlap=overlap)
    apply_batch(agg, Batch(events=[ev("ledger", "req-a", T + 2), ev("ledger", "req-c", T + 3)]), overlap=overlap)
    assert totals(agg, "gw", "ledger") == (4, 400)  # a, b, the one without an id, c
    assert overlap.status("gw") == {"requests": 2, "shared": {"ledger": 1}, "released_early": 0}
    assert overlap.status("ledger") == {"requests": 2, "shared": {"gw": 1}, "released_early": 0}
    assert overlap.status("other") is None


def test_the_earlier_source_in_the_order_wins_whichever_is_read_first():
    overlap, agg = RequestOverlap(["gw", "ledger"]), Aggregator()
    apply_batch(agg, Batch(events=[ev("ledger", "req-a", tokens=90)]), overlap=overlap)  # the ledger was faster
    apply_batch(agg, Batch(events=[ev("gw", "req-a", tokens=100)]), overlap=overlap)
    assert totals(agg, "gw", "ledger") == (1, 100)
    snap = take_snapshot(agg, T + 60, recent=0)
    assert snap.groups["source"]["gw"].requests == 1 and snap.groups["source"]["ledger"].requests == 0
    # the ledger's later record of the same request (a retraction and a new version) changes nothing
    apply_batch(agg, Batch(events=[ev("ledger", "req-a", tokens=95)], retracted=[ev("ledger", "req-a", tokens=90)]),
                overlap=overlap)
    assert totals(agg, "gw", "ledger") == (1, 100)


def test_the_counted_sources_own_supersedings_pass_through():
    overlap, agg = RequestOverlap(["gw", "ledger"]), Aggregator()
    first = ev("gw", "req-s", tokens=0, token_source="missing")
    apply_batch(agg, Batch(events=[first]), overlap=overlap)
    apply_batch(agg, Batch(events=[ev("gw", "req-s", tokens=120)], retracted=[first]), overlap=overlap)
    apply_batch(agg, Batch(events=[ev("ledger", "req-s", tokens=120)]), overlap=overlap)
    assert totals(agg, "gw", "ledger") == (1, 120)


def test_row_numbers_and_ids_seen_again_much_later_are_different_requests():
    overlap, agg = RequestOverlap(["a.db", "b.db"]), Aggregator()
    apply_batch(agg, Batch(events=[ev("a.db", "1"), ev("a.db", "2"), ev("a.db", "gen-7")]), overlap=overlap)
    apply_batch(agg, Batch(events=[ev("b.db", "1"), ev("b.db", "2"), ev("b.db", "gen-7", T + 3600)]), overlap=overlap)
    assert totals(agg, "a.db", "b.db") == (6, 600)


def test_ids_are_let_go_once_every_source_is_past_them_and_at_most_max_ids_are_kept():
    overlap = RequestOverlap(["gw", "ledger"], max_ids=1000, slack=60)
    overlap.admit([ev("gw", f"r{i}", T + i) for i in range(500)], [])
    assert overlap.remembered() == 500  # the ledger has delivered nothing: a copy may still come
    overlap.admit([ev("ledger", f"r{i}", T + i) for i in range(500)], [])
    assert overlap.remembered() <= 120 and overlap.released_early == 0  # both are past them (minute buckets)
    overlap.admit([ev("gw", f"s{i}", T + 1000 + i) for i in range(3000)], [])
    assert overlap.remembered() <= 1000 and overlap.released_early >= 2000  # the bound, and what it cost
    overlap.finish("ledger")  # a finished source holds nothing back
    overlap.admit([ev("gw", "last", T + 5000)], [])
    assert overlap.remembered() <= 2


def test_reference_sources_take_no_part():
    overlap, agg = RequestOverlap(["gw", "gw2"]), Aggregator()
    apply_batch(agg, Batch(events=[ev("gw", "req-a")]), overlap=overlap)
    apply_batch(agg, Batch(events=[ev("ledger", "req-a")]), overlap=overlap)  # not in the order: untouched
    assert totals(agg, "gw") == (1, 100) and take_snapshot(agg, T + 60, recent=0).groups["source"]["ledger"].requests == 1
