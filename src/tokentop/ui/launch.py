"""``tokentop [SOURCE...]``: open the sources (or the configured ones) and run the live monitor;
with no source anywhere, run the built-in demo instead."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tokentop.config import Config, load_config
from tokentop.sources.base import Source
from tokentop.sources.registry import command_line_configs, open_source

if TYPE_CHECKING:
    from tokentop.ui.app import TokentopApp


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    entries = command_line_configs(list(getattr(args, "sources", None) or []),
                                   list(getattr(args, "reference", None) or []), config)
    if not entries:
        from tokentop.demo.launch import run as run_demo

        return int(run_demo(args) or 0)
    return run_app([open_source(entry, config) for entry in entries], config, args)


def run_app(sources: Sequence[Source], config: Config, args: argparse.Namespace | None = None, *,
            title: str = "tokentop", clock: Callable[[], float] | None = None) -> int:
    """Run the monitor on already opened sources (the demo calls this with its own three, and its
    simulated clock: "now" for windows, standings and alerts)."""
    return int(build_app(sources, config, args, title=title, clock=clock).run() or 0)


def build_app(sources: Sequence[Source], config: Config, args: argparse.Namespace | None = None, *,
              title: str = "tokentop", clock: Callable[[], float] | None = None) -> TokentopApp:
    """The app for these sources with the command line's display options applied."""
    from tokentop.ui.app import TokentopApp

    return TokentopApp(
        sources, config, title=title, clock=clock or time.time,
        theme=getattr(args, "theme", None), window=getattr(args, "window", None),
        refresh_hz=getattr(args, "refresh", None), bell=bool(getattr(args, "bell", False)), args=args,
    )
