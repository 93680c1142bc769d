"""``tokentop demo`` (and ``tokentop`` with nothing to watch): start the simulated gateway, point the
three real sources at what it writes, and run the live app on it -- or, with ``--headless-seconds N``,
run sources, aggregation and alert evaluation without a screen for N seconds and print a JSON summary.

Whatever happens (normal exit, Ctrl-C, SIGTERM, an error) the gateway is closed and its temp dir
removed: ``try/finally`` here, plus ``atexit`` in the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from collections.abc import Callable
from typing import Any

import orjson

from tokentop.config import Config, ConfigError, load_config, parse_config
from tokentop.demo.catalogue import PLAN_LIMITS, USERS
from tokentop.demo.gateway import Gateway, raise_on_sigterm
from tokentop.sources.base import Source
from tokentop.sources.registry import load_kind, open_source
from tokentop.terminal import refuse_without_terminal

MAX_SPEED = 1000.0
LEDGER_METADATA_FIELDS = {
    name: f"metadata.{name}" for name in ("platform", "request_id", "cache_hit", "cached_tokens",
                                          "cache_write_tokens", "reasoning_tokens")
} | {"endpoint": "metadata.source"}
"""What the ledger keeps in its JSON ``metadata`` column (a cache hit explains a 0-token row)."""
TITLE = "tokentop demo"


def run(args: argparse.Namespace) -> int:
    speed = getattr(args, "speed", None)
    speed = 1.0 if speed is None else float(speed)
    if not 0 < speed <= MAX_SPEED:
        print(f"tokentop demo: --speed must be more than 0 and at most {MAX_SPEED:g}", file=sys.stderr)
        return 2
    user_config = load_config(getattr(args, "config", None))  # a bad config fails before anything starts
    headless_seconds = getattr(args, "headless_seconds", None)
    if headless_seconds is None and (refused := refuse_without_terminal()) is not None:
        return refused
    raise_on_sigterm()
    # Load the source modules before simulated time starts: at --speed 80 the month boundary is under
    # a second away, and their imports alone can take that long on a busy machine.
    for kind in ("jsonl", "sqlite", "http"):
        load_kind(kind)
    gateway = Gateway(speed=speed)
    try:
        gateway.start()
        config = demo_config(gateway, user_config)
        sources, problems = open_demo_sources(config, gateway.clock)
        if headless_seconds is not None:
            from tokentop.demo.headless import run_headless

            doc = asyncio.run(run_headless(gateway, sources, config, float(headless_seconds)))
            doc["source_problems"] = problems
            sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
            return 1 if gateway.error else 0
        for problem in problems:
            print(f"tokentop demo: {problem}", file=sys.stderr)
        return start_app(sources, config, args, gateway.clock)
    finally:
        gateway.close()


def start_app(sources: list[Source], config: Config, args: argparse.Namespace, clock: Callable[[], float]) -> int:
    """The live app on the demo's sources. ``clock`` is simulated time: the app must use it for "now"
    (windows, standings, alert evaluation), since the demo's records carry simulated timestamps."""
    try:
        from tokentop.ui.launch import run_app
    except ModuleNotFoundError as exc:
        if not (exc.name and "tokentop.ui.launch".startswith(exc.name)):
            raise
        print("tokentop demo: the live app is not in this build (try --headless-seconds N)", file=sys.stderr)
        return 2
    return int(run_app(sources, config, args, title=TITLE, clock=clock) or 0)


def demo_config_data(gateway: Gateway) -> dict[str, Any]:
    """The demo's config as a TOML-shaped dict: plans, users and the three sources."""
    url = f"{gateway.endpoint_url}/api/user/usage?user={{user}}"
    return {
        "billing": {"period": "month", "timezone": "UTC"},
        "plans": {name: {"limit": limit} for name, limit in PLAN_LIMITS.items()},
        "users": {"plans": {u.id: u.plan for u in USERS}, "default_plan": "free"},
        "sources": {
            # from the beginning: the gateway's history gives the panels and alert baselines their past
            "gateway-log": {"kind": "jsonl", "path": str(gateway.log_path), "start": "beginning"},
            "ledger": {"kind": "sqlite", "path": str(gateway.ledger_path), "role": "reference",
                       "fields": LEDGER_METADATA_FIELDS},
            # a reading every 10 simulated seconds (at most 5 polls a second): counters must be read
            # often enough for a missed reset to show within a minute, whatever the speed
            "usage-api": {"kind": "http", "url": url, "users": [u.id for u in USERS], "role": "reference",
                          "interval": max(0.2, min(1.0, 10.0 / gateway.clock.speed))},
        },
    }


def demo_config(gateway: Gateway, user_config: Config | None = None) -> Config:
    """The demo's plans and sources; alert, display, price and key settings and the limits come from the
    user's config."""
    data = demo_config_data(gateway)
    if user_config is not None:
        for table in ("alerts", "display", "prices", "keys"):
            value = getattr(user_config, table)
            if value:
                data[table] = dict(value)
    config = parse_config(data, user_config.path if user_config else None)
    return dataclasses.replace(config, limits=user_config.limits) if user_config is not None else config


def open_demo_sources(config: Config, clock: Callable[[], float]) -> tuple[list[Source], list[str]]:
    """Every demo source that can be opened (stamping what they read with simulated time), and a
    message for each one that cannot."""
    sources: list[Source] = []
    problems: list[str] = []
    for spec in config.sources:
        try:
            sources.append(open_source(spec, config, clock))
        except ConfigError as exc:
            problems.append(f"source {spec.name} ({spec.kind}) not opened: {exc.problem}")
    return sources, problems
