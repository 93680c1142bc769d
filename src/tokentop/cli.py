"""Command line: ``tokentop [SOURCE...]`` runs the live monitor (the demo when nothing is given);
``snapshot``, ``check`` and ``tail`` are the headless commands; ``demo`` runs the built-in demo.

The help texts are written for the terminal (``DESCRIPTION``, ``EPILOG``), not taken from this
docstring: reStructuredText markup must not show in ``tokentop --help``."""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap
from collections.abc import Sequence
from datetime import datetime, timezone

from tokentop import __version__
from tokentop.config import ConfigError
from tokentop.sources.registry import UnknownSource

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


SOURCE_HELP = (
    "a JSONL log (path or glob); a SQLite ledger (a .db/.sqlite path, or sqlite:////abs/path.db: "
    "sqlite:///x.db means x.db in the working directory); an http(s):// usage endpoint; claude "
    "(Claude Code transcripts), codex, gemini-cli; a postgresql:// URL (a PostgreSQL usage table); "
    "otlp://HOST:PORT (an OTLP/HTTP receiver); or a source name from the config file"
)
TIME_HELP = "TIME: ISO 8601 (2026-09-21T14:00, naive is UTC), epoch seconds, or 90s/15m/2h/7d ago"
DESCRIPTION = """A top-style live monitor for LLM token usage: gateway logs, SQLite and PostgreSQL ledgers, usage
endpoints, OpenTelemetry and Claude Code transcripts, followed live.

  tokentop gateway.jsonl /srv/app/usage.db    the live monitor on these sources (a SOURCE may
                                              follow tokentop directly: "run" is the default)
  tokentop                                    the live monitor on the config file's [sources];
                                              without any, the built-in demo
  tokentop check gateway.jsonl                alerts once; exit 0 ok, 1 warnings, 2 critical
"""
EPILOG = "\n\n".join(textwrap.fill(paragraph, 96) for paragraph in (
    f"SOURCE is {SOURCE_HELP}.",
    f"{TIME_HELP} (for --since and --until).",
    '"tokentop COMMAND --help" shows a command\'s options; press ? in the live monitor for its keys.',
))


def _sources_arg(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("sources", nargs="+" if required else "*", metavar="SOURCE", help=SOURCE_HELP)
    parser.add_argument(
        "--reference", action="append", default=[], metavar="SOURCE",
        help="a source to compare the others with, not counted in the totals (repeatable): a ledger, an "
             "export, a provider's usage report",
    )


def _command(sub: argparse._SubParsersAction, name: str, summary: str, description: str = "",
             epilog: str = "") -> argparse.ArgumentParser:
    """A subcommand whose --help keeps its paragraphs as written."""
    return sub.add_parser(name, help=summary, description=description or summary[:1].upper() + summary[1:] + ".",
                          epilog=epilog or None, formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokentop", usage="%(prog)s [SOURCE ...] [options]\n       %(prog)s COMMAND [SOURCE ...] [options]",
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"tokentop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", prog="tokentop")

    run = _command(sub, "run", "the live monitor (the default: tokentop SOURCE... is tokentop run SOURCE...)")
    _common(run)
    _sources_arg(run, required=False)
    _app_options(run)
    _checkpoint_options(run)

    demo = _command(sub, "demo", "the live monitor on the built-in demo gateway")
    _common(demo)
    _app_options(demo)
    demo.add_argument("--speed", type=float, default=1.0, help="how much faster than real time the demo runs")
    demo.add_argument("--headless-seconds", type=float, default=None, help=argparse.SUPPRESS)

    snap = _command(sub, "snapshot", "read sources to their end and print a report", epilog=TIME_HELP)
    _common(snap)
    _sources_arg(snap, required=False)
    fmt = snap.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the JSON document (docs/snapshot.md)")
    fmt.add_argument("--csv", action="store_true", help="print one CSV row per group member")
    _window_options(snap)
    _checkpoint_options(snap)

    check = _command(sub, "check", "evaluate the alert rules; exit 0 ok, 1 warnings, 2 critical", epilog=TIME_HELP)
    _common(check)
    _sources_arg(check, required=False)
    check.add_argument("--json", action="store_true", help="print alerts as JSON")
    _window_options(check)
    _checkpoint_options(check)

    tail = _command(
        sub, "tail", "follow sources and print each event as it arrives",
        description="Follow sources and print each event as it arrives. By default every source (log, ledger,\n"
                    "Claude Code, endpoint) starts at its end: only new records are printed, unless a flag\n"
                    "below (or the source's configured start) says otherwise.",
        epilog="Each line: time, source, user, provider/model, prompt+completion=total, a marker when\n"
               "the counts are not the provider's own (~est, ?missing, !mismatch), and the cost;\n"
               "a cost ending in * was priced by tokentop from its price table (the record had none).\n\n"
               + TIME_HELP)
    _common(tail)
    _sources_arg(tail, required=False)
    tail.add_argument("--json", action="store_true", help="one JSON object per line")
    start = tail.add_mutually_exclusive_group()
    start.add_argument("--from-start", action="store_true",
                       help="first everything already there (whole files, every ledger row), then follow")
    start.add_argument("--tail", type=int, metavar="N", help="first the last N records of each file or table")
    start.add_argument("--since", type=_time, metavar="TIME",
                       help="first the records since TIME (see below), then follow")
    tail.add_argument("--exit-idle", type=float, metavar="SECONDS", help="exit once no event arrived for SECONDS")
    serve = _command(sub, "serve", "follow sources with no screen; serve /metrics and /healthz (Prometheus)")
    _common(serve)
    _sources_arg(serve, required=False)
    serve.add_argument("--metrics", metavar="HOST:PORT", help="where to serve /metrics and /healthz "
                       "(default 127.0.0.1:9464; another address than loopback must be given explicitly)")
    serve.add_argument("--interval", type=float, default=5.0, metavar="SECONDS",
                       help="how often alerts are evaluated and the exported view rebuilt (default 5)")
    serve.add_argument("--alert-log", metavar="PATH", help="append each alert start/end as a JSON line")
    serve.add_argument("--alert-command", metavar="CMD", help="run CMD with each alert as JSON on stdin")
    locate = _command(sub, "locate", "print where the config file and user themes are looked for")
    _common(locate)
    return parser


def _checkpoint_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", metavar="DIR",
                        help="where checkpoints are kept (default: $TOKENTOP_STATE_DIR, else the user state dir)")
    parser.add_argument("--no-checkpoint", action="store_true",
                        help="read all history again and write no checkpoint (docs/checkpoints.md)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="processes that read a large history (default: one per core; 1: this process only)")


def _window_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", type=_time, metavar="TIME", help="only events at or after TIME (see below)")
    parser.add_argument("--until", type=_time, metavar="TIME", help="only events before TIME")
    parser.add_argument("--window", choices=("5m", "1h", "24h", "period", "all"), default="all",
                        help="aggregate over this window (default: everything read)")


def _app_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--theme", help="theme name (built-in or from the user themes dir)")
    parser.add_argument("--window", choices=("5m", "1h", "24h", "period"), help="initial window")
    parser.add_argument("--refresh", type=float, metavar="HZ",
                        help="at most HZ repaints a second as data arrives, 1-4 (default 2)")
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
    except UnknownSource as exc:  # `tokentop snapshto x.jsonl` must not open the monitor on "snapshto"
        print(f"tokentop: {exc.message(COMMANDS if args.command == 'run' else ())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
