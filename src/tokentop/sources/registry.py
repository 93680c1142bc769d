"""Turn a SOURCE argument or a ``[sources.NAME]`` table into a Source object.

On the command line a SOURCE is a path or glob (JSONL), ``sqlite:///path.db`` or a ``.db``/``.sqlite``
path (ledger), a ``postgresql://`` / ``postgres://`` libpq URL (PostgreSQL table), an ``http(s)://`` URL
(endpoint), ``claude`` / ``codex`` / ``gemini-cli`` (the coding agents' own logs; ``NAME:PATH`` for
another folder), ``otlp://HOST:PORT`` (an OTLP/HTTP receiver), or the name of a source declared in config.
A bare word (no dot, slash, colon or glob) that is none of these and no existing file is a mistake -- a
mistyped command or source name -- and refused with a suggestion.
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tokentop.config import Config, ConfigError, SourceConfig
from tokentop.core.sanitize import visible
from tokentop.sources.base import Source
from tokentop.sources.kinds import KINDS

PRESETS = ("claude", "codex", "gemini-cli")
"""Kinds a bare command-line SOURCE names (``codex``, or ``codex:PATH`` for another home)."""

LEDGER_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_WORD = re.compile(r"[A-Za-z0-9_-]+")


class UnknownSource(ValueError):
    """A SOURCE that is a bare word naming nothing (see the module docstring)."""

    def __init__(self, word: str, candidates: Iterable[str]) -> None:
        self.word, self.candidates = word, list(candidates)
        super().__init__(self.message())

    def message(self, also: Iterable[str] = ()) -> str:
        """The error, suggesting the nearest of the configured source names and ``also`` (commands)."""
        near = difflib.get_close_matches(self.word, [*also, *self.candidates], n=1, cutoff=0.6)
        hint = f" (did you mean {visible(near[0])}?)" if near else ""
        return (f"{visible(self.word)!r} is not a command, a configured source or an existing file{hint}; "
                f"for a file that does not exist yet, write ./{visible(self.word)}")


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
    head, _, rest = spec.partition(":")
    if head in PRESETS:
        return head, ({"path": rest} if rest else {})
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


def source_config(spec: str | SourceConfig, config: Config, role: str | None = None) -> SourceConfig:
    """The config entry a command-line SOURCE (a configured name, or a path/URL/preset) stands for;
    ``role`` (``--reference``) overrides the entry's own."""
    if isinstance(spec, str):
        named = {s.name: s for s in config.sources}
        if spec in named:
            spec = named[spec]
        else:
            if _WORD.fullmatch(spec) and spec not in PRESETS and not os.path.exists(spec):
                raise UnknownSource(spec, named)
            kind, options = classify(spec)
            spec = SourceConfig(source_name(kind, options), kind, options)
    if role is not None:
        spec = SourceConfig(spec.name, spec.kind, {**spec.options, "role": role})
    return spec


def open_source(spec: str | SourceConfig, config: Config, clock: Clock = time.time, role: str | None = None) -> Source:
    """A Source for a command-line SOURCE (or a configured name) or a config entry.

    ``clock`` stamps what the source reads (read times, counter readings); the demo passes its
    simulated time so that everything agrees on "now".
    """
    entry = source_config(spec, config, role)
    return _make(entry.kind, entry.name, entry.options, config, clock)


def command_line_configs(specs: Sequence[str], references: Sequence[str], config: Config) -> list[SourceConfig]:
    """The sources a command names: its SOURCE arguments (else every configured source not named
    by ``--reference``), then each ``--reference`` SOURCE as a reference (compared, not counted).
    Empty when nothing is named anywhere (the caller decides: the app runs its demo)."""
    references = list(dict.fromkeys(references))
    primary = [source_config(spec, config) for spec in specs] if specs else [
        entry for entry in config.sources if entry.name not in references]
    return primary + [source_config(spec, config, role="reference") for spec in references]


def command_line_sources(specs: Sequence[str], references: Sequence[str], config: Config,
                         clock: Clock = time.time) -> list[Source]:
    """:func:`command_line_configs`, opened; a ConfigError when nothing is named anywhere."""
    entries = command_line_configs(specs, references, config)
    if not entries:
        raise ConfigError(config.path, "", "no SOURCE given and no [sources] in config")
    return [_make(entry.kind, entry.name, entry.options, config, clock) for entry in entries]


def load_kind(kind: str) -> Callable[..., Source]:
    """The factory of a source kind (its module is imported on first use)."""
    module_name, _, factory = KINDS[kind].partition(":")
    return getattr(importlib.import_module(module_name), factory)  # type: ignore[no-any-return]


def _make(kind: str, name: str, options: Mapping[str, Any], config: Config, clock: Clock) -> Source:
    return load_kind(kind)(name, options, config, clock=clock)
