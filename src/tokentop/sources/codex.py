"""The ``codex`` preset: every OpenAI Codex CLI session on this machine, as one source.

Codex writes ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl`` (``CODEX_HOME`` defaults to
``~/.codex``) and moves archived sessions to ``$CODEX_HOME/archived_sessions``. This preset follows
both (one glob, ``*sessions/**/rollout-*.jsonl``, so an archived session is the same file read once)
with the ``codex`` format, which counts each model response once however often it is repeated or
copied (see ``tokentop.core.formats.codex``). Options: ``path`` (a Codex home instead of the default)
and the JSONL follower's ``start``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tokentop.config import Config
from tokentop.sources.base import Source
from tokentop.sources.transcripts import transcript_source

FORMAT = "codex"
GLOB = os.path.join("*sessions", "**", "rollout-*.jsonl")


def codex_home(options: Mapping[str, Any], env: Mapping[str, str], home: Path) -> Path:
    """The ``path`` option, else ``$CODEX_HOME``, else ``~/.codex``."""
    if options.get("path"):
        return Path(str(options["path"])).expanduser()
    if env.get("CODEX_HOME"):
        return Path(env["CODEX_HOME"]).expanduser()
    return home / ".codex"


def make_source(name: str, options: Mapping[str, Any], config: Config,
                clock: Callable[[], float] = time.time) -> Source:
    pattern = str(codex_home(options, os.environ, Path.home()) / GLOB)
    return transcript_source(name, options, config, clock, kind="codex", fmt=FORMAT, pattern=pattern)
