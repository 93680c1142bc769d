"""The endpoint source against hostile answers from a real HTTP server on 127.0.0.1: bodies far larger
than any usage document (announced, chunked, compressed), and tokens that cannot be sent."""

from __future__ import annotations

import gzip
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from endpoint_server import Reply, UsageServer  # noqa: E402

from tokentop.config import Config, ConfigError, parse_config  # noqa: E402
from tokentop.sources.endpoint import EndpointSource, make_source  # noqa: E402

GB = 1 << 30
USAGE = {"ok": True, "tokensUsed": 10, "tokenLimit": 100}


@pytest.fixture
def server():
    s = UsageServer()
    yield s
    s.close()


def endpoint(url: str, config: Config | None = None, **options) -> EndpointSource:
    opts = {"url": url, "interval": 0.02, "timeout": 20.0, "retries": 0, "backoff": 0.01, **options}
    return make_source("usage", opts, config or Config())


async def poll_once(source: EndpointSource):
    return [b async for b in source.batches(follow=False)]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_gigabyte_body_is_given_up_after_the_cap_not_read(server, chunked):
    # (on main the whole gigabyte was read, 3.1-4.0 GiB of memory, and the reading accepted as ok)
    server.set("/api/user/usage", Reply(flood=GB, chunked=chunked))
    source = endpoint(f"{server.base}/api/user/usage")
    started = time.monotonic()
    batches = await poll_once(source)
    assert batches == []
    assert source.status.state == "error"
    assert source.status.error.startswith("response too large: over 1,048,576 bytes")
    assert "max_body_bytes" in source.status.error
    assert time.monotonic() - started < 10
    assert server.flooded < 64 << 20  # the client hung up: the server got out a few MiB at most


async def test_the_cap_is_configurable_per_source_and_in_limits(server):
    server.set("/api/user/usage", Reply(body={**USAGE, "padding": "x" * 5000}))
    small = endpoint(f"{server.base}/api/user/usage", max_body_bytes=2000)
    await poll_once(small)
    assert small.status.state == "error" and "over 2,000 bytes" in small.status.error
    config = parse_config({"limits": {"max_body_bytes": 4096}})
    capped = endpoint(f"{server.base}/api/user/usage", config)
    await poll_once(capped)
    assert "over 4,096 bytes" in capped.status.error
    roomy = endpoint(f"{server.base}/api/user/usage")  # the default: 1 MiB
    assert await poll_once(roomy) and roomy.status.state == "ok"


async def test_a_compressed_body_counts_at_its_decompressed_size(server):
    bomb = gzip.compress(b"[" + b"1," * (8 << 20) + b"1]")  # ~16 MiB of JSON in ~16 KiB
    server.set("/api/user/usage", Reply(body=bomb, headers={"Content-Encoding": "gzip"}))
    source = endpoint(f"{server.base}/api/user/usage")
    await poll_once(source)
    assert source.status.state == "error" and "response too large" in source.status.error


@pytest.mark.parametrize("options, key", [
    ({"max_body_bytes": 0}, "max_body_bytes"), ({"max_body_bytes": 1.5}, "max_body_bytes"),
    ({"header": "X Api Key"}, "header"), ({"header": "X-Key\r\nEvil: 1"}, "header"),
])
def test_bad_limits_and_header_names_name_the_key(options, key):
    with pytest.raises(ConfigError) as info:
        make_source("ep", {"url": "http://127.0.0.1:9/u", **options}, Config())
    assert info.value.key == f"sources.ep.{key}"
