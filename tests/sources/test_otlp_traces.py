"""The OTLP/HTTP receiver fed by the real OpenTelemetry SDK exporters (protobuf and JSON)."""

from __future__ import annotations

import asyncio
import gzip
import os
import sys
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanKind

sys.path.insert(0, str(Path(__file__).parent))
from otlp_support import export, exporter, make_spans, running  # noqa: E402

CHAT = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-sonnet-4",
        "gen_ai.response.model": "claude-sonnet-4-20250514", "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 80, "gen_ai.usage.cache_read.input_tokens": 1000,
        "gen_ai.usage.cache_write.input_tokens": 150, "gen_ai.usage.reasoning.output_tokens": 30, "user.id": "alice"}


def span_specs() -> list[dict]:
    return [
        {"attrs": CHAT},
        {"name": "embedding", "attrs": {"gen_ai.operation.name": "embedding", "gen_ai.system": "openai",
                                        "gen_ai.request.model": "text-embedding-3-small", "gen_ai.usage.input_tokens": 64,
                                        "enduser.id": "bob"}},
        {"attrs": {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
                   "gen_ai.usage.input_tokens": 10, "gen_ai.usage.cache_creation.input_tokens": 4,
                   "gen_ai.usage.output_tokens": 2}, "error": "rate limited"},
        {"name": "invoke_agent", "kind": SpanKind.INTERNAL,
         "attrs": {"gen_ai.operation.name": "invoke_agent", "gen_ai.usage.input_tokens": 1274}},
        {"name": "GET /health", "kind": SpanKind.SERVER, "attrs": {"http.request.method": "GET"}},
    ]


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
async def test_sdk_export_counts_usage_spans(encoding):
    async with running() as r:
        spans = make_spans(span_specs())
        assert await export(exporter(r.url, encoding), spans) is SpanExportResult.SUCCESS
        await r.settle(1)
        totals = r.totals()
        # independent sums: chat (1200 + 80), embedding 64, failed chat 10 + 2; the agent span and
        # the two HTTP spans (the SDK's parent and GET /health) are not usage
        assert (totals.requests, totals.prompt_tokens, totals.completion_tokens) == (3, 1274, 82)
        assert (totals.cached_tokens, totals.cache_write_tokens, totals.reasoning_tokens, totals.errors) == (
            1000, 154, 30, 1)
        by_user = r.agg.group("user", "all", 0.0)
        assert by_user["alice"].total_tokens == 1280 and by_user["bob"].total_tokens == 64
        assert set(r.agg.group("provider", "all", 0.0)) == {"anthropic", "openai"}
        assert set(r.agg.group("platform", "all", 0.0)) == {"chat-api"}
        chat = next(e for e in r.agg.recent if e.user == "alice")
        trace = spans[0].context.trace_id
        assert chat.request_id == f"{spans[0].context.span_id:016x}" and trace  # hex ids intact in JSON too
        assert chat.model == "claude-sonnet-4-20250514" and chat.latency_ms is not None
        assert dict(r.source.status.skip_reasons) == {"aggregate_span": 1, "no_usage": 2}


async def test_a_retried_export_counts_once_across_encodings():
    async with running() as r:
        spans = make_spans(span_specs())
        for encoding in ("protobuf", "json", "protobuf"):  # the same spans three times, as retries send them
            assert await export(exporter(r.url, encoding), spans) is SpanExportResult.SUCCESS
        await r.settle(3)
        assert (r.totals().requests, r.totals().total_tokens) == (3, 1274 + 82)


async def test_gzip_export():
    async with running() as r:
        exp = exporter(r.url, "protobuf", compression=Compression.Gzip)
        assert await export(exp, make_spans([{"attrs": CHAT}])) is SpanExportResult.SUCCESS
        await r.settle(1)
        assert r.totals().prompt_tokens == 1200


async def test_a_retry_after_a_lost_answer_counts_once():
    """A proxy answers the SDK's first attempt 503 after tokentop accepted it (the answer was lost):
    the exporter retries by itself, and the span still counts once."""
    async with running() as r:
        attempts = []

        async def proxy(reader, writer):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            body = await reader.readexactly(length)
            headers = {k.decode().lower(): v.decode() for k, v in
                       (line.split(b": ", 1) for line in head.split(b"\r\n")[1:] if line)}
            async with httpx.AsyncClient() as client:
                answer = await client.post(f"{r.url}/v1/traces", content=body,
                                           headers={"content-type": headers["content-type"]})
            attempts.append(answer.status_code)
            status = b"503 Service Unavailable" if len(attempts) == 1 else b"200 OK"
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(proxy, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            exp = exporter(f"http://127.0.0.1:{port}")
            assert await export(exp, make_spans([{"attrs": CHAT}])) is SpanExportResult.SUCCESS
        finally:
            server.close()
        assert attempts == [200, 200]  # tokentop accepted both attempts ...
        await r.settle(2)
        assert r.totals().requests == 1  # ... and counted the span once


def _body(specs=None) -> bytes:
    return encode_spans(make_spans(specs or [{"attrs": CHAT}])).SerializeToString()


PROTOBUF = {"content-type": "application/x-protobuf"}


@pytest.mark.parametrize("case, status", [
    ("garbage protobuf", 400), ("garbage json", 400), ("json array", 400), ("json bad hex id", 400),
    ("text/plain", 415), ("no content type", 415), ("deflate", 415), ("broken gzip", 400), ("oversized", 413),
    ("gzip bomb", 413), ("chunked oversized", 413), ("GET", 405), ("unknown path", 404),
])
async def test_bad_requests_get_their_status_and_change_nothing(case, status):
    async with running({"max_body": 64 * 1024}) as r:
        url, method, headers, content = f"{r.url}/v1/traces", "POST", dict(PROTOBUF), _body()
        if case == "garbage protobuf":
            content = b"\xff\xff\xff\xff not a message"
        elif case == "garbage json":
            headers, content = {"content-type": "application/json"}, b'{"resourceSpans": [ oops'
        elif case == "json array":
            headers, content = {"content-type": "application/json"}, b"[]"
        elif case == "json bad hex id":
            headers = {"content-type": "application/json"}
            content = (b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"0102030405060708",'
                       b'"attributes":[{"key":"gen_ai.usage.input_tokens","value":{"intValue":"5"}}]}]}]}]}')
        elif case == "text/plain":
            headers = {"content-type": "text/plain"}
        elif case == "no content type":
            headers = {}
        elif case == "deflate":
            headers["content-encoding"] = "deflate"
        elif case == "broken gzip":
            headers["content-encoding"], content = "gzip", gzip.compress(content)[:-12]
        elif case == "oversized":
            content = os.urandom(100 * 1024)
        elif case == "gzip bomb":  # 40 KiB on the wire, 64 MiB inflated
            headers["content-encoding"], content = "gzip", gzip.compress(b"\0" * (64 << 20), 9)
            assert len(content) < 64 * 1024
        elif case == "chunked oversized":
            async def chunks():
                for _ in range(100):
                    yield b"\0" * 1024
            content = chunks()
        elif case == "GET":
            method, content = "GET", None
        elif case == "unknown path":
            url = f"{r.url}/v1/logs"
        async with httpx.AsyncClient() as client:
            answer = await client.request(method, url, headers=headers, content=content)
        assert answer.status_code == status
        if status == 400:
            from google.rpc import status_pb2
            if headers["content-type"] == "application/x-protobuf":
                assert status_pb2.Status.FromString(answer.content).message
            else:
                assert answer.json()["message"]
        # nothing else changed: no event, no skip, and the receiver still takes a good export
        assert r.totals().requests == 0 and r.source.status.skipped == 0 and r.batches == 0
        assert await export(exporter(r.url), make_spans([{"attrs": CHAT}])) is SpanExportResult.SUCCESS
        await r.settle(1)
        assert r.totals().requests == 1


async def test_partial_success_names_what_was_rejected():
    specs = [{"attrs": CHAT}, {"attrs": {"gen_ai.usage.input_tokens": -3}},
             {"attrs": {"gen_ai.usage.output_tokens": "many"}}, {"attrs": {"http.route": "/x"}}]
    async with running() as r:
        async with httpx.AsyncClient() as client:
            answer = await client.post(f"{r.url}/v1/traces", content=_body(specs), headers=PROTOBUF)
            as_json = await client.post(
                f"{r.url}/v1/traces", headers={"content-type": "application/json"},
                content=b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c",'
                        b'"spanId":"b7ad6b7169203331","someFutureField":1,"attributes":[{"key":'
                        b'"gen_ai.usage.input_tokens","value":{"intValue":"-1"}}]}]}]}],"unknownTopLevel":{}}')
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
        response = ExportTraceServiceResponse.FromString(answer.content)
        assert answer.status_code == 200 and response.partial_success.rejected_spans == 2
        assert response.partial_success.error_message == "negative_tokens 1, wrong_type 1"
        assert as_json.status_code == 200
        assert as_json.json() == {"partialSuccess": {"rejectedSpans": "1", "errorMessage": "negative_tokens 1"}}
        await r.settle(2)
        assert r.totals().requests == 1
        assert dict(r.source.status.skip_reasons) == {"negative_tokens": 2, "wrong_type": 1, "no_usage": 2}


async def test_bearer_token(monkeypatch):
    monkeypatch.setenv("TT_OTLP_TOKEN", "s3cret-token-value")
    async with running({"token_env": "TT_OTLP_TOKEN"}) as r:
        spans = make_spans([{"attrs": CHAT}])
        assert await export(exporter(r.url), spans) is SpanExportResult.FAILURE
        wrong = exporter(r.url, headers={"Authorization": "Bearer nope"})
        assert await export(wrong, spans) is SpanExportResult.FAILURE
        right = exporter(r.url, headers={"Authorization": "Bearer s3cret-token-value"})
        assert await export(right, spans) is SpanExportResult.SUCCESS
        await r.settle(1)
        assert r.totals().requests == 1 and r.source.answered[401] == 2
        assert "s3cret" not in repr(r.source.status.to_dict())


def test_listen_defaults_to_loopback_and_an_empty_token_refuses_to_start(monkeypatch):
    from tokentop.config import Config, ConfigError
    from tokentop.sources.registry import open_source

    source = open_source("otlp://:4318", Config())
    assert (source.settings.host, source.settings.port) == ("127.0.0.1", 4318)
    assert open_source("otlp://0.0.0.0:9999", Config()).settings.host == "0.0.0.0"
    monkeypatch.delenv("TT_EMPTY", raising=False)
    from tokentop.sources.otlp import make_source
    with pytest.raises(ConfigError, match="TT_EMPTY is empty"):
        make_source("o", {"token_env": "TT_EMPTY"}, Config())


async def test_a_taken_port_is_a_source_error():
    async with running() as first:
        from tokentop.config import Config
        from tokentop.sources.otlp import make_source

        second = make_source("again", {"listen": f"127.0.0.1:{first.source.port}"}, Config())
        assert [b async for b in second.batches(follow=True)] == []
        assert second.status.state == "error" and "cannot listen" in second.status.error


async def test_a_slow_client_does_not_block_others():
    async with running() as r:
        reader, writer = await asyncio.open_connection("127.0.0.1", r.source.port)
        writer.write(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                     b"Content-Length: 100000\r\n\r\nabc")  # ... and never the rest
        await writer.drain()
        assert await export(exporter(r.url), make_spans([{"attrs": CHAT}])) is SpanExportResult.SUCCESS
        await r.settle(1)
        writer.close()


async def test_a_full_queue_answers_503_before_counting_anything():
    from tokentop.config import Config
    from tokentop.sources.otlp import make_source

    source = make_source("slow", {"listen": "127.0.0.1:0", "queue": 1}, Config())
    await source.server.start()  # listening, but nobody takes the batches
    try:
        async with httpx.AsyncClient() as client:
            first = await client.post(f"http://127.0.0.1:{source.port}/v1/traces", content=_body(), headers=PROTOBUF)
            behind = await client.post(f"http://127.0.0.1:{source.port}/v1/traces",
                                       content=_body([{"attrs": {**CHAT, "user.id": "zed"}}]), headers=PROTOBUF)
        assert (first.status_code, behind.status_code, behind.headers["retry-after"]) == (200, 503, "1")
        assert source.status.events == 1 and source.status.skipped == 1  # the second export left no trace
    finally:
        await source.aclose()
