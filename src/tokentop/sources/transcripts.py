"""What the presets for coding agents' own logs share (``codex``, ``gemini-cli``): one JSONL follower
over the files the agent writes, with the agent's format forced.

One follower for every file of the preset, never one per folder: files are identified by inode, so a
session moved between the folders a preset follows (Codex archiving a session) is read once, and a
single normaliser sees every file, so a response copied into another file (forks, resumes) counts once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tokentop.config import Config, ConfigError
from tokentop.sources.base import Source
from tokentop.sources.options import check_options

OPTIONS = frozenset({"path", "start"})


def transcript_source(name: str, options: Mapping[str, Any], config: Config, clock: Callable[[], float], *,
                      kind: str, fmt: str, pattern: str) -> Source:
    """The JSONL follower of ``pattern`` (a glob) reading ``fmt``, shown as a source of ``kind``."""
    check_options(name, options, OPTIONS, config)
    if options.get("format", fmt) != fmt:
        raise ConfigError(config.path, f"sources.{name}.format", f"a {kind} source always reads {fmt!r}")
    from tokentop.sources import jsonl  # the JSONL follower

    inner = {key: value for key, value in options.items() if key != "path"}
    inner.update(path=pattern, format=fmt)
    source = jsonl.make_source(name, inner, config, clock=clock)
    source.kind = source.status.kind = kind
    return source
