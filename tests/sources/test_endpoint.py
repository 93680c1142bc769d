"""The endpoint source against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from pathlib import Path

import orjson
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from endpoint_server import Reply  # noqa: E402

from tokentop.config import Config, ConfigError  # noqa: E402
from tokentop.sources.endpoint import EndpointSource, make_source  # noqa: E402

TOKEN = "sk-test-SECRET-4f9a1c"
USAGE = {"ok": True, "tokensUsed": 3250, "tokenLimit": 100000, "percentage": 3, "remaining": 96750,
         "subscriptionTier": "pro", "hasOwnKeys": False, "unlimited": False}



def endpoint(url: str, **options) -> EndpointSource:
    opts = {"url": url, "interval": 0.02, "timeout": 1.0, "retries": 0, "backoff": 0.01, **options}
    return make_source("usage", opts, Config())


async def poll_once(source: EndpointSource):
    return [b async for b in source.batches(follow=False)]


async def test_api_user_usage_reading_limit_and_bearer_token(server, monkeypatch):
    monkeypatch.setenv("TOKENTOP_HTTP_TOKEN", TOKEN)
    server.set("/api/user/usage", Reply(body=USAGE))
    source = endpoint(server.base + "/api/user/usage", user="alice")
    (batch,) = await poll_once(source)
    (reading,) = batch.readings
    assert (reading.user, reading.period_tokens, reading.limit, reading.plan) == ("alice", 3250, 100000, "pro")
    assert [(lim.user, lim.limit, lim.plan) for lim in batch.limits] == [("alice", 100000, "pro")]
    assert batch.events == []  # the first reading is a baseline
    assert server.requests[0][1]["Authorization"] == f"Bearer {TOKEN}"
    assert source.status.state == "ok"


async def test_unlimited_means_no_limit_and_raw_key_headers(server, monkeypatch):
    monkeypatch.setenv("MY_KEY", TOKEN)
    server.set("/api/user/usage", Reply(body={**USAGE, "unlimited": True, "tokenLimit": 0}))
    source = endpoint(server.base + "/api/user/usage", header="X-Api-Key", token_env="MY_KEY")
    (batch,) = await poll_once(source)
    # a URL without {user} and no user option: the user is named after the source (the endpoint)
    assert batch.readings[0].limit is None and batch.readings[0].user == "usage"
    assert server.requests[0][1]["X-Api-Key"] == TOKEN and "Authorization" not in server.requests[0][1]


def token_usage(total: int, prompt: int, completion: int, requests: int) -> dict:
    return {"userId": "user123", "totalTokens": total, "promptTokens": prompt, "completionTokens": completion,
            "requestCount": requests, "dailyUsage": [], "monthlyUsage": [{"month": "2020-01", "totalTokens": 5}],
            "lastRequestAt": "2025-06-23T10:30:00.000Z"}


async def test_growing_counters_become_deltas_and_a_reset_is_recorded(server):
    server.set("/user/user123/token-usage",
               Reply(body=token_usage(1000, 600, 400, 10)), Reply(body=token_usage(1450, 800, 650, 12)),
               Reply(body=token_usage(1450, 800, 650, 12)), Reply(body=token_usage(100, 60, 40, 1)),
               Reply(body=token_usage(130, 70, 60, 2)))
    source = endpoint(server.base + "/user/{user}/token-usage", users=["user123"])
    seen = []
    async for batch in source.batches(follow=True):
        seen.append(batch)
        if len(seen) == 5:
            break
    events = [e for b in seen for e in b.events]
    assert [(e.user, e.total_tokens, e.prompt_tokens, e.completion_tokens, e.format, e.token_source) for e in events] == [
        ("user123", 450, 200, 250, "endpoint", "actual"), ("user123", 30, 10, 20, "endpoint", "actual")]
    assert source.deltas.resets == 1 and "1450 → 100" in source.status.detail
    r = seen[0].readings[0]
    assert (r.total_tokens, r.requests, r.last_request_at, r.period_tokens) == (1000, 10, 1750674600.0, None)


async def test_etag_304_is_unchanged_and_ok(server):
    server.set("/api/user/usage", Reply(body=USAGE, etag='W/"v1"'))
    source = endpoint(server.base + "/api/user/usage")
    batches = []
    async for batch in source.batches(follow=True):
        batches.append(batch)
        if len(batches) == 3:
            break
    assert [len(b.readings) for b in batches] == [1, 1, 1]
    assert server.requests[1][1].get("If-None-Match") == 'W/"v1"'
    assert batches[2].readings[0].period_tokens == 3250 and source.status.state == "ok"


@pytest.mark.parametrize("reply, expected", [
    (Reply(401, {"error": "bad token"}), "unauthorized (HTTP 401)"),
    (Reply(403, {}), "forbidden (HTTP 403)"),
    (Reply(404, "nope"), "not found (HTTP 404)"),
    (Reply(500, "boom"), "server error (HTTP 500)"),
    (Reply(503, "later", headers={"Retry-After": "0"}), "unavailable (HTTP 503)"),
    (Reply(200, "<html>hello</html>", headers={"Content-Type": "text/html"}), "response is not JSON (text/html"),
    (Reply(200, {"users": []}), "unexpected response shape: none of tokensUsed, totalTokens, tokens_used_this_month"),
    (Reply(200, [1, 2]), "unexpected response shape: expected a JSON object"),
    (Reply(200, {"tokensUsed": -5}), "unexpected response shape: negative_tokens"),
    (Reply(302, "", headers={"Location": "https://elsewhere.example/x?token=abc"}), "redirected (HTTP 302)"),
])
async def test_each_failure_has_its_own_readable_status(server, reply, expected, monkeypatch):
    monkeypatch.setenv("TOKENTOP_HTTP_TOKEN", TOKEN)
    server.set("/u", reply)
    source = endpoint(server.base + "/u")
    assert await poll_once(source) == []
    assert source.status.state == "error"
    assert source.status.error.startswith(expected), source.status.error
    assert TOKEN not in str(source.status.to_dict()) and "abc" not in source.status.error


async def test_refused_connection_and_total_deadline(server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    source = endpoint(f"http://127.0.0.1:{port}/api/user/usage")
    await poll_once(source)
    assert source.status.error.startswith("connection refused")
    # a server that keeps sending one byte every 50 ms: httpx's per-chunk read timeout never fires
    server.set("/slow", Reply(body=USAGE, trickle=0.05))
    slow = endpoint(server.base + "/slow", timeout=0.4)
    started = asyncio.get_running_loop().time()
    await poll_once(slow)
    assert asyncio.get_running_loop().time() - started < 2.0
    assert slow.status.error == "timed out: no complete response within 0.4 s"


async def test_retries_honour_retry_after_then_succeed(server):
    server.set("/api/user/usage", Reply(429, "slow down", headers={"Retry-After": "1"}),
               Reply(503, "", headers={"Retry-After": "0"}), Reply(body=USAGE))
    source = endpoint(server.base + "/api/user/usage", retries=3)
    started = asyncio.get_running_loop().time()
    (batch,) = await poll_once(source)
    assert asyncio.get_running_loop().time() - started >= 0.95  # waited as told
    assert batch.readings and source.status.state == "ok" and len(server.requests) == 3


async def test_a_failing_endpoint_that_answered_before_is_stale_with_its_age(server):
    server.set("/api/user/usage", Reply(body=USAGE), Reply(500, "down"))
    source = endpoint(server.base + "/api/user/usage")

    async def consume() -> None:
        async for _ in source.batches(follow=True):
            pass

    task = asyncio.create_task(consume())
    try:
        async with asyncio.timeout(5):
            while source.status.state != "stale":
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.15)
        status = source.status
        assert status.state == "stale" and status.error == "server error (HTTP 500)"
        assert status.lag_seconds >= 0.1 and status.detail.startswith("last good response")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await source.aclose()


async def test_the_token_never_appears_in_logs_or_statuses(server, monkeypatch, caplog):
    monkeypatch.setenv("TOKENTOP_HTTP_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG)
    server.set("/api/user/usage", Reply(401, {"error": f"token {TOKEN} is revoked"}))
    url = f"http://bob:{TOKEN}@127.0.0.1:{server.base.rsplit(':', 1)[1]}/api/user/usage?api_key={TOKEN}&x=1"
    source = endpoint(url)
    await poll_once(source)
    text = caplog.text + str(source.status.to_dict()) + source.status.error + (source.status.detail or "")
    assert "HTTP Request" in caplog.text  # httpx did log the request, redacted
    assert TOKEN not in text and "api_key=***" in caplog.text


@pytest.mark.parametrize("options, key", [
    ({}, "url"), ({"url": "ftp://x"}, "url"), ({"url": "http://x/{user}"}, "users"),
    ({"url": "http://x", "timeout": 0}, "timeout"), ({"url": "http://x", "retries": -1}, "retries"),
    ({"url": "http://x", "shape": "weird"}, "shape"), ({"url": "http://x", "verify": "no"}, "verify"),
])
def test_bad_options_name_the_key(options, key):
    with pytest.raises(ConfigError) as info:
        make_source("ep", options, Config())
    assert info.value.key == f"sources.ep.{key}"


async def test_a_restart_counts_the_growth_since_the_last_reading_not_the_whole_counter(server, monkeypatch):
    monkeypatch.setenv("TOKENTOP_HTTP_TOKEN", TOKEN)
    server.set("/user/user123/token-usage", Reply(body=token_usage(1000, 600, 400, 10), etag='"v1"'),
               Reply(body=token_usage(1200, 700, 500, 11), etag='"v2"'))
    url = server.base + "/user/{user}/token-usage"
    source = endpoint(url, users=["user123"])
    (first,) = await poll_once(source)
    assert first.events == [] and source.progress is None
    state = orjson.loads(orjson.dumps(source.checkpoint()))
    assert TOKEN not in orjson.dumps(state).decode() and "token-usage" not in orjson.dumps(state).decode()
    again = endpoint(url, users=["user123"], start="beginning")  # (no history: start changes nothing)
    assert again.restore(state)
    (batch,) = await poll_once(again)
    assert [(e.user, e.total_tokens, e.prompt_tokens, e.completion_tokens) for e in batch.events] == [
        ("user123", 200, 100, 100)]
    assert server.requests[1][1].get("If-None-Match") == '"v1"'
    fresh = endpoint(url, users=["user123"])
    assert not fresh.restore({"kind": "http", "version": 1, "targets": 3, "previous": []})
    assert fresh.status.note.startswith("resume state ignored: not an endpoint state")
    assert not fresh.restore({"kind": "sqlite", "version": 1}) and "not 'http'" in fresh.status.note
