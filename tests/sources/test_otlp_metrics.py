"""Usage from OTLP metrics, exported by the real OpenTelemetry SDK: cumulative series become deltas,
a restart is a reset (never negative usage), a retried export adds nothing, delta temporality too."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.json.http.metric_exporter import OTLPMetricExporter as JsonMetricExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as ProtoMetricExporter
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

sys.path.insert(0, str(Path(__file__).parent))
from otlp_support import running  # noqa: E402


class App:
    """One instrumented process: a MeterProvider whose reader exports on demand (``flush``)."""

    def __init__(self, url: str, encoding: str = "protobuf", delta: bool = False, service: str = "agent") -> None:
        cls = ProtoMetricExporter if encoding == "protobuf" else JsonMetricExporter
        temporality = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA} if delta else {}
        self.exporter = cls(endpoint=f"{url}/v1/metrics", timeout=10, preferred_temporality=temporality)
        self.reader = PeriodicExportingMetricReader(self.exporter, export_interval_millis=3_600_000)
        self.provider = MeterProvider(resource=Resource.create({"service.name": service, "user.id": "dev-1"}),
                                      metric_readers=[self.reader])
        self.meter = self.provider.get_meter("tests")

    async def flush(self) -> None:
        assert await asyncio.to_thread(self.provider.force_flush, 10_000)

    async def stop(self) -> None:
        await asyncio.to_thread(self.provider.shutdown)


def claude_tokens(app: App):
    return app.meter.create_counter("claude_code.token.usage", unit="tokens")


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
async def test_cumulative_counter_with_a_restart(encoding):
    async with running() as r:
        app = App(r.url, encoding)
        tokens, cost = claude_tokens(app), app.meter.create_counter("claude_code.cost.usage", unit="USD")
        model = {"model": "claude-sonnet-4-5"}
        tokens.add(100, {"type": "input", **model})
        tokens.add(2000, {"type": "cacheRead", **model})
        tokens.add(40, {"type": "output", **model})
        cost.add(0.25, model)
        await app.flush()
        await app.flush()  # the same cumulative values again: no new usage
        tokens.add(10, {"type": "input", **model})
        cost.add(0.01, model)
        await app.flush()
        await app.stop()
        # the process restarts: new series start times, counters from zero
        again = App(r.url, encoding)
        claude_tokens(again).add(5, {"type": "input", **model})
        await again.flush()
        await again.stop()
        await r.settle(4)
        t = r.totals()
        # Anthropic semantics: input excludes the cache, so prompt = input + cacheRead (+ cacheCreation)
        assert (t.prompt_tokens, t.cached_tokens, t.completion_tokens) == (100 + 2000 + 10 + 5, 2000, 40)
        assert t.requests == 0 and t.actual == 0  # metrics say nothing of how many requests
        assert t.cost == pytest.approx(0.26)  # Claude Code's own cost, never priced again from the table
        assert {e.user for e in r.agg.recent} == {"dev-1"} and {e.model for e in r.agg.recent} == {"claude-sonnet-4-5"}


async def test_a_retried_metrics_export_adds_nothing():
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    async with running() as r:
        reader = InMemoryMetricReader()
        provider = MeterProvider(resource=Resource.create({"service.name": "agent"}), metric_readers=[reader])
        provider.get_meter("t").create_counter("claude_code.token.usage").add(70, {"type": "output", "model": "m"})
        data = reader.get_metrics_data()
        exporter = ProtoMetricExporter(endpoint=f"{r.url}/v1/metrics", timeout=10)
        for _ in range(2):  # the exporter's own export of the same data, twice: a retry on the wire
            assert await asyncio.to_thread(exporter.export, data) is MetricExportResult.SUCCESS
        provider.shutdown()
        await r.settle(2)
        assert r.totals().completion_tokens == 70 and r.source.metrics.deltas.repeats == 1


async def test_delta_temporality_and_the_genai_histogram():
    async with running() as r:
        app = App(r.url, delta=True)
        usage = app.meter.create_histogram("gen_ai.client.token.usage", unit="{token}")
        attrs = {"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o", "gen_ai.operation.name": "chat"}
        for prompt, completion in ((1000, 50), (300, 20)):
            usage.record(prompt, {**attrs, "gen_ai.token.type": "input"})
            usage.record(completion, {**attrs, "gen_ai.token.type": "output"})
        await app.flush()
        usage.record(10, {**attrs, "gen_ai.token.type": "input"})
        usage.record(1, {**attrs, "gen_ai.token.type": "output"})
        await app.flush()
        await app.stop()
        await r.settle(2)
        t = r.totals()
        assert (t.prompt_tokens, t.completion_tokens) == (1310, 71)
        assert t.requests == 3 and t.actual == 3  # the input histogram's count: three operations
        assert t.cost > 0  # priced from the table, once per event with input and output together
        assert r.agg.group("provider", "all", 0.0).keys() == {"openai"}


async def test_series_older_than_the_receiver_set_a_baseline():
    """A process that ran before tokentop listened: its first point is a baseline, not usage."""
    from tokentop.core.formats.genai_metrics import MetricPoint, MetricUsage

    usage = MetricUsage(listening_since_ns=2_000)
    point = dict(metric="gemini_cli.token.usage", resource={}, resource_key=(), cumulative=True)
    first = usage.parts([MetricPoint(attrs={"type": "input", "model": "gemini-2.5-pro"}, start_ns=1_000,
                                     time_ns=3_000, value=500, **point)])
    later = usage.parts([MetricPoint(attrs={"type": "input", "model": "gemini-2.5-pro"}, start_ns=1_000,
                                     time_ns=4_000, value=520, **point),
                         MetricPoint(attrs={"type": "thought", "model": "gemini-2.5-pro"}, start_ns=3_500,
                                     time_ns=4_000, value=9, **point)])
    assert first == [] and usage.deltas.baselines == 1
    (fields,) = later
    assert (fields["prompt_tokens"], fields["completion_tokens"], fields["reasoning_tokens"]) == (20, 9, 9)
    dropped = usage.parts([MetricPoint(attrs={"type": "input", "model": "gemini-2.5-pro"}, start_ns=1_000,
                                       time_ns=5_000, value=3, **point)])
    assert dropped[0]["prompt_tokens"] == 3 and usage.deltas.resets == 1  # a drop is a reset, never negative


async def test_other_metrics_and_bad_points_are_counted_skips():
    async with running() as r:
        app = App(r.url)
        app.meter.create_counter("claude_code.session.count").add(1)
        app.meter.create_histogram("gen_ai.client.operation.duration", unit="s").record(1.5)
        claude_tokens(app).add(5, {"type": "teleported", "model": "m"})
        app.meter.create_counter("codex.turn.token_usage").add(9, {"token_type": "total", "model": "gpt-5-codex"})
        app.meter.create_counter("codex.turn.token_usage").add(7, {"token_type": "input", "model": "gpt-5-codex"})
        await app.stop()  # (one export, at shutdown)
        await r.settle(1)
        assert r.totals().prompt_tokens == 7
        assert dict(r.source.status.skip_reasons) == {"no_usage": 2, "unknown_token_type": 1, "derived_total": 1}
