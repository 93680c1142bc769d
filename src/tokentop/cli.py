"""Command line: ``tokentop [SOURCE...]`` runs the live monitor (the demo when nothing is given);
``snapshot``, ``check`` and ``tail`` are the headless commands; ``demo`` runs the built-in demo."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from datetime import datetime, timezone

from tokentop import __version__
from tokentop.config import ConfigError

# command -> "module:function"; each function takes the parsed args and returns an exit status.
HANDLERS = {
    "run": "tokentop.ui.launch:run",
    "demo": "tokentop.demo.launch:run",
    "snapshot": "tokentop.headless:snapshot",
    "check": "tokentop.headless:check",
    "tail": "tokentop.tail:run",
    "locate": "tokentop.locate:run",
    "serve": "tokentop.serve:run",
}
COMMANDS = frozenset(HANDLERS) - {"run"}


def _time(text: str) -> float:
    """A --since/--until value: ISO 8601 (naive = UTC), epoch seconds, or a relative '15m'/'2h'/'7d'."""
    from tokentop.core.timeparse import parse_time

    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text and text[-1] in units and text[:-1].isdigit():
        return datetime.now(timezone.utc).timestamp() - int(text[:-1]) * units[text[-1]]
    try:
        value = parse_time(text)
    except ValueError:
        value = None
    if value is None:
        raise argparse.ArgumentTypeError(f"not a time: {text!r} (use ISO 8601, epoch seconds, or 15m/2h/7d)")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="config file (default: ./tokentop.toml, then the user config dir)")


def _sources_arg(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument(
        "sources", nargs="+" if required else "*", metavar="SOURCE",
        help="JSONL path or glob, sqlite:///ledger.db or *.db, http(s):// URL, 'claude', 'codex', 'gemini-cli', "
             "otlp://HOST:PORT (an OTLP/HTTP receiver), or a configured source name",
    )
    parser.add_argument(
        "--reference", action="append", default=[], metavar="SOURCE",
        help="a source to compare the others with, not counted in the totals (repeatable): a ledger, an "
             "export, a provider's usage report",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tokentop", description=__doc__)
    parser.add_argument("--version", action="version", version=f"tokentop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="the live monitor (the default command)")
    _common(run)
    _sources_arg(run, required=False)
    _app_options(run)

    demo = sub.add_parser("demo", help="the live monitor on the built-in demo gateway")
    _common(demo)
    _app_options(demo)
    demo.add_argument("--speed", type=float, default=1.0, help="how much faster than real time the demo runs")
    demo.add_argument("--headless-seconds", type=float, default=None, help=argparse.SUPPRESS)

    snap = sub.add_parser("snapshot", help="read sources to their end and print a report")
    _common(snap)
    _sources_arg(snap, required=False)
    fmt = snap.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the JSON document (docs/snapshot.md)")
    fmt.add_argument("--csv", action="store_true", help="print one CSV row per group member")
    _window_options(snap)

    check = sub.add_parser("check", help="evaluate the alert rules; exit 0 ok, 1 warnings, 2 critical")
    _common(check)
    _sources_arg(check, required=False)
    check.add_argument("--json", action="store_true", help="print alerts as JSON")
    _window_options(check)

    tail = sub.add_parser(
        "tail", help="follow sources and print each event as it arrives",
        description="Follow sources and print each event as it arrives. By default every source (log, "
                    "ledger, Claude Code, endpoint) starts at its end: only new records are printed, "
                    "unless a flag below (or the source's configured start) says otherwise.")
    _common(tail)
    _sources_arg(tail, required=False)
    tail.add_argument("--json", action="store_true", help="one JSON object per line")
    start = tail.add_mutually_exclusive_group()
    start.add_argument("--from-start", action="store_true",
                       help="first everything already there (whole files, every ledger row), then follow")
    start.add_argument("--tail", type=int, metavar="N", help="first the last N records of each file or table")
    start.add_argument("--since", type=_time, metavar="TIME", help="first the records since TIME, then follow")
    tail.add_argument("--exit-idle", type=float, metavar="SECONDS", help="exit once no event arrived for SECONDS")
    serve = sub.add_parser("serve", help="follow sources with no screen; serve /metrics and /healthz (Prometheus)")
    _common(serve)
    _sources_arg(serve, required=False)
    serve.add_argument("--metrics", metavar="HOST:PORT", help="where to serve /metrics and /healthz "
                       "(default 127.0.0.1:9464; another address than loopback must be given explicitly)")
    serve.add_argument("--interval", type=float, default=5.0, metavar="SECONDS",
                       help="how often alerts are evaluated and the exported view rebuilt (default 5)")
    serve.add_argument("--alert-log", metavar="PATH", help="append each alert start/end as a JSON line")
    serve.add_argument("--alert-command", metavar="CMD", help="run CMD with each alert as JSON on stdin")
    locate = sub.add_parser("locate", help="print where the config file and user themes are looked for")
    _common(locate)
    return parser


def _window_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", type=_time, metavar="TIME", help="only events at or after TIME")
    parser.add_argument("--until", type=_time, metavar="TIME", help="only events before TIME")
    parser.add_argument("--window", choices=("5m", "1h", "24h", "period", "all"), default="all",
                        help="aggregate over this window (default: everything read)")


def _app_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--theme", help="theme name (built-in or from the user themes dir)")
    parser.add_argument("--window", choices=("5m", "1h", "24h", "period"), help="initial window")
    parser.add_argument("--refresh", type=float, metavar="HZ", help="screen refresh rate, 1-4 Hz")
    parser.add_argument("--alert-log", metavar="PATH", help="append each alert start/end as a JSON line")
    parser.add_argument("--alert-command", metavar="CMD", help="run CMD with each alert as JSON on stdin")
    parser.add_argument("--bell", action="store_true", help="ring the terminal bell when an alert starts")
    parser.add_argument("--metrics", metavar="HOST:PORT", help="also serve tokentop's view to Prometheus "
                        "(/metrics, /healthz) on HOST:PORT")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    argv = list(argv)
    if not argv or argv[0] not in (*COMMANDS, "run", "-h", "--help", "--version"):
        argv.insert(0, "run")  # `tokentop [SOURCE...] [options]` is the live monitor
    return build_parser().parse_args(argv)


def entry() -> int:
    """The ``tokentop`` program (console script and ``python -m tokentop``): :func:`main`, then
    leave even if a library thread would keep the process alive (see ``tokentop.leave``)."""
    from tokentop.leave import leave

    try:
        code = main()
    except SystemExit as exc:  # argparse's --help, or a signal turned into SystemExit (the demo's)
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
    return leave(code)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    module_name, _, function = HANDLERS[args.command].partition(":")
    handler = getattr(importlib.import_module(module_name), function)
    try:
        return int(handler(args) or 0)
    except ConfigError as exc:
        print(f"tokentop: config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
