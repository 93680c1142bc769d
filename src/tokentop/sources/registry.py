"""Turn a SOURCE argument or a ``[sources.NAME]`` table into a Source object.

On the command line a SOURCE is a path or glob (JSONL), ``sqlite:///path.db`` or a ``.db``/``.sqlite``
path (ledger), a ``postgresql://`` / ``postgres://`` libpq URL (PostgreSQL table), an ``http(s)://`` URL
(endpoint), ``claude`` (Claude Code transcripts), ``otlp://HOST:PORT`` (an OTLP/HTTP receiver), or the
name of a source declared in config.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tokentop.config import Config, SourceConfig
from tokentop.sources.base import Source

# kind -> "module:factory"; a factory takes (name, options, config, clock=) and returns a Source.
KINDS: dict[str, str] = {
    "jsonl": "tokentop.sources.jsonl:make_source",
    "sqlite": "tokentop.sources.ledger:make_source",
    "http": "tokentop.sources.endpoint:make_source",
    "claude": "tokentop.sources.claude:make_source",
    "postgres": "tokentop.sources.postgres:make_source",
    "otlp": "tokentop.sources.otlp:make_source",
}

LEDGER_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def classify(spec: str) -> tuple[str, dict[str, Any]]:
    """The kind and options a command-line SOURCE stands for."""
    if spec.startswith(("http://", "https://")):
        return "http", {"url": spec}
    if spec.startswith(("postgresql://", "postgres://")):
        return "postgres", {"dsn": spec}
    if spec.startswith("otlp://"):
        return "otlp", {"listen": spec.removeprefix("otlp://")}
    if spec.startswith("sqlite:///"):
        # sqlite:///relative.db and sqlite:////abs/path.db, as SQLAlchemy spells them
        return "sqlite", {"path": spec.removeprefix("sqlite:///")}
    if spec == "claude" or spec.startswith("claude:"):
        rest = spec.partition(":")[2]
        return "claude", ({"path": rest} if rest else {})
    if spec.lower().endswith(LEDGER_SUFFIXES):
        return "sqlite", {"path": spec}
    return "jsonl", {"path": spec}


def source_name(kind: str, options: Mapping[str, Any]) -> str:
    if kind == "http":
        from urllib.parse import urlsplit

        parts = urlsplit(str(options["url"]))
        return f"{parts.hostname or 'http'}{':' + str(parts.port) if parts.port else ''}{parts.path}"
    if kind == "postgres":
        from urllib.parse import parse_qs, urlsplit

        parts = urlsplit(str(options["dsn"]))  # (never the user or password: a name is shown everywhere)
        table = parse_qs(parts.query).get("table", ["postgres"])[0]
        return f"{table}@{parts.hostname or 'localhost'}{parts.path}"
    if kind == "otlp":
        return f"otlp:{options.get('listen', '')}".rstrip(":")
    if "path" in options:
        return Path(str(options["path"])).name or str(options["path"])
    return kind


Clock = Callable[[], float]


def open_source(spec: str | SourceConfig, config: Config, clock: Clock = time.time) -> Source:
    """A Source for a command-line SOURCE (or a configured name) or a config entry.

    ``clock`` stamps what the source reads (read times, counter readings); the demo passes its
    simulated time so that everything agrees on "now".
    """
    if isinstance(spec, str):
        named = {s.name: s for s in config.sources}
        if spec in named:
            spec = named[spec]
        else:
            kind, options = classify(spec)
            return _make(kind, source_name(kind, options), options, config, clock)
    return _make(spec.kind, spec.name, spec.options, config, clock)


def load_kind(kind: str) -> Callable[..., Source]:
    """The factory of a source kind (its module is imported on first use)."""
    module_name, _, factory = KINDS[kind].partition(":")
    return getattr(importlib.import_module(module_name), factory)  # type: ignore[no-any-return]


def _make(kind: str, name: str, options: Mapping[str, Any], config: Config, clock: Clock) -> Source:
    return load_kind(kind)(name, options, config, clock=clock)
