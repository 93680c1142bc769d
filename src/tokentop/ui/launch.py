"""``tokentop [SOURCE...]``: open the sources (or the configured ones) and run the live monitor;
with no source anywhere, run the built-in demo instead."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tokentop.alerting import alert_settings
from tokentop.checkpoint import CheckpointStore, state_dir
from tokentop.config import Config, SourceConfig, load_config
from tokentop.core.aggregate import Aggregator
from tokentop.core.overlap import RequestOverlap
from tokentop.core.readback import history_start
from tokentop.resume import Checkpointing, live_start, notices
from tokentop.sources.base import Source
from tokentop.sources.registry import command_line_configs
from tokentop.terminal import refuse_without_terminal

if TYPE_CHECKING:
    from tokentop.ui.app import TokentopApp


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    entries = command_line_configs(list(getattr(args, "sources", None) or []),
                                   list(getattr(args, "reference", None) or []), config)
    if not entries:
        from tokentop.demo.launch import run as run_demo

        return int(run_demo(args) or 0)
    if (refused := refuse_without_terminal()) is not None:  # (after the SOURCEs: a mistyped one says so first)
        return refused
    app = asyncio.run(start_app(entries, config, args))
    return int(app.run() or 0)


async def start_app(specs: Sequence[SourceConfig], config: Config, args: argparse.Namespace | None = None,
              clock: Callable[[], float] = time.time) -> TokentopApp:
    """The app on these sources, resumed from their checkpoint or reading back as far as the screen
    and the alerts need (``core.readback``), unless a source's own ``start`` says otherwise."""
    since = history_start(config.plans, alert_settings(config), clock())
    store = None if getattr(args, "no_checkpoint", False) else CheckpointStore(
        state_dir(getattr(args, "state_dir", None)), specs, config)
    resumed, checkpointing = await live_start(store, specs, config, since, clock)
    fresh = resumed.specs if resumed.checkpoint is None else [None] * len(resumed.specs)  # (history to read)
    return build_app(resumed.sources, config, args, clock=clock, aggregator=resumed.aggregator,
                     overlap=resumed.overlap, checkpointing=checkpointing, notices=notices(resumed), specs=fresh)


def run_app(sources: Sequence[Source], config: Config, args: argparse.Namespace | None = None, *,
            title: str = "tokentop", clock: Callable[[], float] | None = None) -> int:
    """Run the monitor on already opened sources (the demo calls this with its own three, and its
    simulated clock: "now" for windows, standings and alerts)."""
    return int(build_app(sources, config, args, title=title, clock=clock).run() or 0)


def build_app(sources: Sequence[Source], config: Config, args: argparse.Namespace | None = None, *,
              title: str = "tokentop", clock: Callable[[], float] | None = None,
              aggregator: Aggregator | None = None, overlap: RequestOverlap | None = None,
              checkpointing: Checkpointing | None = None, notices: Sequence[str] = (),
              specs: Sequence[SourceConfig | None] = ()) -> TokentopApp:
    """The app for these sources with the command line's display options applied."""
    from tokentop.ui.app import TokentopApp

    return TokentopApp(
        sources, config, title=title, clock=clock or time.time,
        theme=getattr(args, "theme", None), window=getattr(args, "window", None),
        refresh_hz=getattr(args, "refresh", None), bell=bool(getattr(args, "bell", False)), args=args,
        aggregator=aggregator, overlap=overlap, checkpointing=checkpointing, notices=notices, specs=specs,
    )
