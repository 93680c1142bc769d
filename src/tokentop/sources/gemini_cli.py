"""The ``gemini-cli`` preset: every Gemini CLI chat recording on this machine, as one source.

Gemini CLI records each session in ``~/.gemini/tmp/<project hash>/chats/session-*.jsonl`` (subagents
in ``chats/<parent session>/*.jsonl``). This preset follows ``tmp/*/chats/**/*.jsonl`` under the
Gemini home with the ``gemini_cli`` format (each response counted once: see
``tokentop.core.formats.gemini_cli``). Sessions still in the legacy single-object ``.json`` files are
not read (Gemini CLI moves a legacy session to ``.jsonl`` when it is resumed). Options: ``path`` (a
Gemini home instead of ``~/.gemini``) and the JSONL follower's ``start``.
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

FORMAT = "gemini_cli"
GLOB = os.path.join("tmp", "*", "chats", "**", "*.jsonl")


def make_source(name: str, options: Mapping[str, Any], config: Config,
                clock: Callable[[], float] = time.time) -> Source:
    home = Path(str(options["path"])).expanduser() if options.get("path") else Path.home() / ".gemini"
    return transcript_source(name, options, config, clock, kind="gemini-cli", fmt=FORMAT, pattern=str(home / GLOB))
