"""What the writers write: the gateway log is understood by tokentop's own normaliser; the ledger rows
and the counters carry the scripted faults."""

from __future__ import annotations

import orjson
import pytest

from tokentop.core.normalise import NormaliseOptions, Normaliser
from tokentop.demo.counters import CounterStore
from tokentop.demo.records import ledger_row, log_line, log_shape
from tokentop.demo.scenario import MONTH_END_LEAD, PHASES, simulated_start
from tokentop.demo.traffic import TrafficGenerator

START = simulated_start(1_790_000_000.0)


@pytest.fixture(scope="module")
def requests():
    return TrafficGenerator(START, seed=3, history=120).until(START + 200)


def test_the_log_mixes_shapes_and_every_line_normalises_to_the_same_request(requests):
    assert {log_shape(r) for r in requests} == {"snake", "camel", "nested"}
    normaliser = Normaliser(NormaliseOptions(source="gateway-log"))
    for r in requests:
        e = normaliser.from_line(log_line(r).rstrip(b"\n"), read_time=0.0)
        assert e is not None
        assert abs(e.ts - r.ts) < 0.002 and not e.time_inferred
        assert (e.user, e.provider, e.model, e.platform, e.endpoint) == (r.user, r.provider, r.model, r.platform,
                                                                         r.source)
        assert (e.prompt_tokens, e.completion_tokens, e.total_tokens) == (r.prompt_tokens, r.completion_tokens,
                                                                          r.total_tokens)
        assert (e.cached_tokens, e.reasoning_tokens, e.token_source) == (r.cached_tokens, r.reasoning_tokens,
                                                                         r.token_source)
        assert e.mismatched == ("totals_mismatch" in r.faults and r.total_tokens > 0)
        assert e.cache_hit == r.cache_hit and e.request_id == r.request_id
        assert e.is_error == (r.status == "error")


def test_ledger_rows_leave_out_untracked_providers_and_the_silent_platform(requests):
    for r in requests:
        row = ledger_row(r)
        if r.faults & {"untracked_provider", "logging_stopped"}:
            assert row is None
            continue
        assert row is not None
        metadata = orjson.loads(row[-1])
        assert (metadata["platform"], metadata["source"], metadata["request_id"]) == (r.platform, r.source,
                                                                                      r.request_id)
        assert row[2] == (None if "null_provider" in r.faults else r.provider)
    assert any(r.provider == "deepseek" and ledger_row(r) for r in requests)  # outside the slot it is logged


def test_counters_skip_untracked_provider_calls(requests):
    store = CounterStore(START)
    counted = [r for r in requests if store.record(r)]
    assert counted and all("untracked_provider" not in r.faults for r in counted)
    assert len(counted) < len(requests)


def test_counter_resets_at_the_month_boundary_except_while_the_fault_is_on():
    store = CounterStore(START)
    requests = TrafficGenerator(START, seed=3, history=0).until(START + PHASES["counter_not_reset"].stop + 30)
    before = [r for r in requests if r.offset < MONTH_END_LEAD]
    for r in before:
        store.record(r)
    last_month = {u: store.usage(u, START + MONTH_END_LEAD - 1)["tokensUsed"] for u in store.users()}
    for r in requests[len(before):]:
        store.record(r)
    during = START + MONTH_END_LEAD + 60
    after = START + PHASES["counter_not_reset"].stop + 1
    this_month = {u: sum(r.total_tokens for r in requests if r.user == u and r.offset >= MONTH_END_LEAD
                         and "untracked_provider" not in r.faults) for u in store.users()}
    for user in store.users():
        assert store.usage(user, after)["tokensUsed"] == this_month[user]
        if user != "bob":
            assert store.usage(user, during)["tokensUsed"] == this_month[user]
    assert store.usage("bob", during)["tokensUsed"] == last_month["bob"] + this_month["bob"]
    months = store.token_usage("bob", during)["monthlyUsage"]
    assert len(months) == 1 and months[0]["tokens"] == last_month["bob"] + this_month["bob"]
    assert [m["tokens"] for m in store.token_usage("bob", after)["monthlyUsage"]] == [last_month["bob"],
                                                                                      this_month["bob"]]


def test_counter_documents_have_the_seed_shapes():
    store = CounterStore(START)
    usage = store.usage("dana", START)
    assert set(usage) == {"ok", "tokensUsed", "tokenLimit", "percentage", "remaining", "subscriptionTier",
                          "hasOwnKeys", "unlimited"}
    assert usage["subscriptionTier"] == "free" and usage["remaining"] == usage["tokenLimit"] - usage["tokensUsed"]
    doc = store.token_usage("dana", START)
    assert set(doc) == {"userId", "totalTokens", "promptTokens", "completionTokens", "requestCount", "dailyUsage",
                        "monthlyUsage", "lastRequestAt"}
    assert doc["totalTokens"] == doc["promptTokens"] + doc["completionTokens"]
    assert store.usage("nobody", START) is None and store.token_usage("nobody", START) is None
