"""A running OTLP receiver (the ``otlp`` source on a free port) feeding a real Aggregator, and real
OpenTelemetry SDK exporters pointed at it (run in threads: they block)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter as JsonSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as ProtoSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tokentop.config import Config
from tokentop.core.aggregate import Aggregator
from tokentop.ingest import apply_batch
from tokentop.sources.otlp import OtlpSource, make_source


class Receiver:
    def __init__(self, source: OtlpSource) -> None:
        self.source = source
        self.agg = Aggregator()
        self.batches = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.source.port}"

    def totals(self):
        return self.agg.totals("all", 0.0)

    async def settle(self, batches: int, timeout: float = 10.0) -> None:
        """Wait until ``batches`` batches were applied."""
        async with asyncio.timeout(timeout):
            while self.batches < batches:
                await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(options: dict | None = None, config: Config | None = None) -> AsyncIterator[Receiver]:
    source = make_source("otlp", {"listen": "127.0.0.1:0", **(options or {})}, config or Config())
    receiver = Receiver(source)

    async def pump() -> None:
        async for batch in source.batches(follow=True):
            apply_batch(receiver.agg, batch)
            receiver.batches += 1

    task = asyncio.create_task(pump())
    try:
        async with asyncio.timeout(5):
            while source.status.state != "ok":
                assert source.status.state != "error", source.status.error
                await asyncio.sleep(0.01)
        yield receiver
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await source.aclose()


def make_spans(specs: Sequence[dict], service: str = "chat-api") -> list[ReadableSpan]:
    """Real SDK spans: each spec is ``{"name", "attrs", "kind", "error"}``."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("request", kind=SpanKind.SERVER):
        for spec in specs:
            with tracer.start_as_current_span(spec.get("name", "chat"), kind=spec.get("kind", SpanKind.CLIENT),
                                              attributes=spec.get("attrs", {})) as span:
                if spec.get("error"):
                    span.set_status(StatusCode.ERROR, spec["error"])
    provider.shutdown()
    return list(memory.get_finished_spans())


def exporter(url: str, encoding: str = "protobuf", **kwargs):
    cls = ProtoSpanExporter if encoding == "protobuf" else JsonSpanExporter
    return cls(endpoint=f"{url}/v1/traces", timeout=10, **kwargs)


async def export(exp, spans: Sequence[ReadableSpan]):
    return await asyncio.to_thread(exp.export, spans)
