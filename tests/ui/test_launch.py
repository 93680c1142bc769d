"""``tokentop [SOURCE...]`` wiring: the demo when there is no source; options reach the app."""

from __future__ import annotations

import sys
import types

from tokentop.cli import parse_args
from tokentop.sources.base import Batch
from tokentop.ui import launch
from tokentop.ui.widgets.requests import RequestsTable

from .conftest import sample_events, wait_for
from .support import ListSource


def test_no_source_anywhere_runs_the_demo(monkeypatch):
    calls = []
    demo = types.ModuleType("tokentop.demo.launch")
    demo.run = lambda args: calls.append(args) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tokentop.demo", types.ModuleType("tokentop.demo"))
    monkeypatch.setitem(sys.modules, "tokentop.demo.launch", demo)
    args = parse_args(["--theme", "light"])
    assert launch.run(args) == 0
    assert calls == [args]


async def test_command_line_options_reach_the_app():
    args = parse_args(["x.jsonl", "--theme", "monochrome", "--window", "24h", "--refresh", "9", "--bell"])
    source = ListSource("gateway", [Batch(events=sample_events())])
    from tokentop.config import Config

    app = launch.build_app([source], Config(), args, title="demo", clock=lambda: 1_790_000_000.0)
    assert (app.window, app.refresh_hz, app.ring_bell, app.title) == ("24h", 4.0, True, "demo")
    assert app.clock() == 1_790_000_000.0
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.query_one(RequestsTable).row_count == 12)
        assert app.theme == "tokentop-monochrome"
