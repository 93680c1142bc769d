"""The ``claude`` preset: every Claude Code transcript on this machine, as one source.

Claude Code writes ``<config dir>/projects/<project>/<session>.jsonl`` (and subagent files below a
session's folder). The config dirs are ``$CLAUDE_CONFIG_DIR`` (comma-separated) or, by default,
``~/.claude`` and ``~/.config/claude``. This preset follows ``projects/**/*.jsonl`` in each with the
JSONL follower and the ``claude_code`` format, which counts each API response once (see
``tokentop.core.formats.claude_code``). Options: ``path`` (a projects folder, or several separated
by commas, instead of the defaults) and the JSONL follower's ``start``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokentop.config import Config, ConfigError
from tokentop.sources.base import Batch, Progress, Source, SourceStatus, new_state, state_body, state_ignored
from tokentop.sources.options import check_options

if TYPE_CHECKING:
    from tokentop.sources.jsonl import JsonlSource

FORMAT = "claude_code"
OPTIONS = frozenset({"path", "start"})


def project_dirs(options: Mapping[str, Any], env: Mapping[str, str], home: Path) -> list[Path]:
    """The projects folders to follow: the ``path`` option, else $CLAUDE_CONFIG_DIR, else the defaults
    (only the defaults that exist, or the first one when none does, so the source can wait for it)."""
    if options.get("path"):
        return [Path(p.strip()).expanduser() for p in str(options["path"]).split(",") if p.strip()]
    if env.get("CLAUDE_CONFIG_DIR"):
        return [Path(p.strip()).expanduser() / "projects" for p in env["CLAUDE_CONFIG_DIR"].split(",") if p.strip()]
    defaults = [home / ".claude" / "projects", home / ".config" / "claude" / "projects"]
    return [d for d in defaults if d.is_dir()] or defaults[:1]


def jsonl_options(options: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """Options for the JSONL follower of one projects folder: a recursive glob, the claude format."""
    inner = {k: v for k, v in options.items() if k != "path"}
    inner["path"] = str(folder / "**" / "*.jsonl")
    inner["format"] = FORMAT
    return inner


def make_source(name: str, options: Mapping[str, Any], config: Config,
                clock: Callable[[], float] = time.time) -> Source:
    check_options(name, options, OPTIONS, config)
    if options.get("format", FORMAT) != FORMAT:
        raise ConfigError(config.path, f"sources.{name}.format", f"a claude source always reads {FORMAT!r}")
    from tokentop.sources import jsonl  # the JSONL follower

    folders = project_dirs(options, os.environ, Path.home())
    sources = [jsonl.make_source(name, jsonl_options(options, f), config, clock=clock) for f in folders]
    return sources[0] if len(sources) == 1 else MergedSource(name, sources)


class MergedSource:
    """Several followers shown as one source (Claude Code config dirs). Each keeps its own dedupe
    state: the same response in two config dirs would count twice (Claude Code never does that).
    Its resume state holds each follower's, in order; progress is their sum."""

    kind = "claude"

    def __init__(self, name: str, sources: list[JsonlSource]) -> None:
        self.name = name
        self.sources = sources
        self.role = sources[0].role
        self.status = SourceStatus(name, self.kind)
        self._states: list[dict[str, Any]] | None = None
        """Each follower's resume state as of its last batch yielded here (None before reading)."""

    async def batches(self, follow: bool) -> AsyncIterator[Batch]:
        # Each follower's resume state is taken as it yields (the followers run on, concurrently):
        # the merged state is, per follower, the one of its last batch this source has yielded.
        queue: asyncio.Queue[tuple[int, Batch, dict[str, Any]] | None] = asyncio.Queue()
        self._states = [s.checkpoint() for s in self.sources]

        async def pump(index: int, source: JsonlSource) -> None:
            try:
                async for batch in source.batches(follow):
                    await queue.put((index, batch, source.checkpoint()))
            finally:
                await queue.put(None)

        tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(self.sources)]
        try:
            running = len(tasks)
            while running:
                item = await queue.get()
                self._refresh()
                if item is None:
                    running -= 1
                    continue
                index, batch, state = item
                self._states[index] = state
                if batch:
                    yield batch
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _refresh(self) -> None:
        """The merged status: summed counters; the worst state; the first error."""
        parts = [s.status for s in self.sources]
        status = self.status
        status.events = sum(p.events for p in parts)
        status.skipped = sum(p.skipped for p in parts)
        status.skip_reasons.clear()
        for p in parts:
            status.skip_reasons.update(p.skip_reasons)
        for state in ("error", "stale", "waiting", "starting", "ok", "done"):
            if any(p.state == state for p in parts):
                status.state = state
                break
        status.error = next((p.error for p in parts if p.error), None)
        status.last_event_at = max((p.last_event_at for p in parts if p.last_event_at is not None), default=None)
        status.last_read_at = max((p.last_read_at for p in parts if p.last_read_at is not None), default=None)
        status.detail = ", ".join(p.detail for p in parts if p.detail) or None

    async def aclose(self) -> None:
        for source in self.sources:
            await source.aclose()

    @property
    def progress(self) -> Progress | None:
        parts = [s.progress for s in self.sources]
        if all(p is None for p in parts):
            return None
        done = sum(p.done for p in parts if p is not None)
        total = sum(p.total for p in parts if p is not None)
        return Progress(done if any(p is None or not p.complete for p in parts) else total, total, "bytes")

    def checkpoint(self) -> dict[str, Any]:
        states = self._states if self._states is not None else [s.checkpoint() for s in self.sources]
        return new_state(self.kind, parts=list(states))

    def restore(self, state: Mapping[str, Any]) -> bool:
        body = state_body(state, self.kind, self.status)
        if body is None:
            return False
        parts = body.get("parts")
        if not isinstance(parts, list) or len(parts) != len(self.sources):
            count = len(parts) if isinstance(parts, list) else "no"
            return state_ignored(self.status, f"it is of {count} config dirs, not {len(self.sources)}")
        parsed = [s.parse_state(p) for s, p in zip(self.sources, parts)]  # (all checked before any is applied)
        problem = next((p for p in parsed if isinstance(p, str)), None)
        if problem is not None:
            return state_ignored(self.status, problem)
        for source, resume in zip(self.sources, parsed):
            source.apply_state(resume)
        return True
