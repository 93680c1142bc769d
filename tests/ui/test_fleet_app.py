"""The live app as a fleet view: an OTLP receiver as its source and ``--metrics`` for Prometheus."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tokentop.config import Config
from tokentop.sources.otlp import make_source
from tokentop.ui.launch import build_app
from tokentop.ui.widgets.requests import RequestsTable

from .conftest import wait_for

sys.path.insert(0, str(Path(__file__).parent.parent / "sources"))
from otlp_support import exporter, make_spans  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_spans_reach_the_screen_and_metrics():
    source = make_source("fleet", {"listen": "127.0.0.1:0"}, Config())
    port = free_port()
    args = argparse.Namespace(metrics=f"127.0.0.1:{port}", refresh=4)
    app = build_app([source], Config(), args)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: source.status.state == "ok")
        spans = make_spans([{"attrs": {"gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-haiku-4-5",
                                       "gen_ai.usage.input_tokens": 321, "gen_ai.usage.output_tokens": 9,
                                       "user.id": "carol"}}])
        result = await asyncio.to_thread(exporter(f"http://127.0.0.1:{source.port}").export, spans)
        assert result.name == "SUCCESS"
        table = app.query_one(RequestsTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
            tokens: dict = {}
            for _ in range(100):  # the exported view is rebuilt at most every 2 s
                text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
                tokens = {(s.labels["model"], s.labels["type"]): s.value for f in text_string_to_metric_families(text)
                          for s in f.samples if s.name == "tokentop_tokens_total"}
                if tokens:
                    break
                await pilot.pause(0.1)
        assert tokens[("claude-haiku-4-5", "input")] == 321
