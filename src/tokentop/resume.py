"""Starting from a checkpoint, and saving one: the glue between the sources, the aggregator and the
checkpoint store, shared by ``snapshot``/``check`` and the live app.

A checkpoint is taken whole or not at all: if any source refuses its resume state (the file it
recorded is gone for good, its kind changed ...), the sources are opened afresh and history is read
again -- a source reading from its start while the aggregate already counts its old records would
count them twice.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tokentop.checkpoint import (FULL, RECENT, Checkpoint, CheckpointStore, SavedSource, restore_status,
                                 status_state)
from tokentop.config import Config, SourceConfig
from tokentop.core import aggstate
from tokentop.core.aggregate import Aggregator
from tokentop.core.overlap import RequestOverlap
from tokentop.ingest import overlap_for
from tokentop.sources.base import Source
from tokentop.sources.registry import open_source, source_config

Clock = Callable[[], float]


def source_configs(specs: Sequence[str | SourceConfig], config: Config) -> list[SourceConfig]:
    """Each command-line SOURCE (or configured source) as a SourceConfig."""
    return [source_config(spec, config) for spec in specs]


def with_start(specs: Sequence[SourceConfig], start: str) -> list[SourceConfig]:
    """The specs with ``start`` where the config sets none (a configured ``start`` is the user's choice)."""
    return [s if "start" in s.options else SourceConfig(s.name, s.kind, {**s.options, "start": start}) for s in specs]


@dataclass(slots=True)
class Resumed:
    """Sources and the aggregator to read on with, and what to tell the user about the checkpoint."""

    sources: list[Source]
    aggregator: Aggregator
    specs: list[SourceConfig]
    """What the sources were opened with (``start`` set)."""
    checkpoint: Checkpoint | None = None
    """The checkpoint resumed from (None: read from scratch)."""
    notices: list[str] = field(default_factory=list)
    overlap: RequestOverlap | None = None
    """Requests matched across the counted sources, as the checkpoint left them (None: none, or afresh)."""


StartFor = Callable[[Checkpoint | None], str | None]
"""The ``start`` for sources resumed from a checkpoint (or for a fresh read: None) -- files a
checkpoint does not know must be read from the moment its counts begin; None: the sources' own."""


async def resume_or_open(store: CheckpointStore | None, coverages: Sequence[str], specs: Sequence[SourceConfig],
                         config: Config, clock: Clock, *, accept: Callable[[Checkpoint], bool] = lambda c: True,
                         start_for: StartFor = lambda c: None, source_clock: Clock | None = None) -> Resumed:
    """Open the sources and resume them from the newest usable checkpoint of ``coverages`` (accepted
    by ``accept``); else open them afresh with an empty aggregator, noting why."""
    notices: list[str] = []
    found: list[Checkpoint] = []
    if store is not None:
        for coverage in coverages:
            loaded = store.load(coverage)
            if loaded.notice:
                notices.append(loaded.notice)
            if loaded.checkpoint is not None and accept(loaded.checkpoint):
                found.append(loaded.checkpoint)

    def chosen(checkpoint: Checkpoint | None) -> list[SourceConfig]:
        start = start_for(checkpoint)
        return list(specs) if start is None else with_start(specs, start)

    def opened(checkpoint: Checkpoint | None) -> list[Source]:
        return [open_source(s, config, clock=source_clock or clock) for s in chosen(checkpoint)]

    for checkpoint in sorted(found, key=lambda c: -c.saved_at):
        sources = opened(checkpoint)
        aggregator, problem = _resume(checkpoint, sources, config, clock)
        overlap = overlap_for(sources)
        if aggregator is not None and overlap is not None and (
                checkpoint.overlap is None or not overlap.restore(checkpoint.overlap)):
            aggregator, problem = None, "its requests matched across sources cannot be read"
        if aggregator is not None:
            return Resumed(sources, aggregator, chosen(checkpoint), checkpoint, notices, overlap)
        notices.append(f"not used: {problem}")
        for source in sources:
            with contextlib.suppress(Exception):  # (closing must not hide why it was not used)
                await source.aclose()
    return Resumed(opened(None), Aggregator(config.plans, clock=clock, max_keys=config.limits.max_keys), chosen(None), None, notices)


def _resume(checkpoint: Checkpoint, sources: list[Source], config: Config, clock: Clock
            ) -> tuple[Aggregator | None, str]:
    try:
        aggregator = Aggregator.from_state(aggstate.decode(checkpoint.aggregator), config.plans, clock,
                                             max_keys=config.limits.max_keys)
    except (msgspec.DecodeError, ValueError) as exc:
        return None, f"its counts cannot be read ({exc})"
    if not resumable(sources):
        return None, "a source cannot resume"
    for source, saved in zip(sources, checkpoint.sources):
        if not source.restore(saved.resume):
            return None, f"source {source.name}: {source.status.note or 'its resume state was refused'}"
    for source, saved in zip(sources, checkpoint.sources):
        restore_status(source.status, saved.status)
    return aggregator, ""


def saved_sources(sources: Sequence[Source]) -> list[SavedSource]:
    """Each source's resume state and status counters (call between batches: see ``Source.checkpoint``)."""
    return [SavedSource(source.checkpoint(), status_state(source.status)) for source in sources]


def resumable(sources: Sequence[Source]) -> bool:
    """Whether every source keeps the resume contract (a kind without it makes the set uncheckpointed)."""
    return all(callable(getattr(s, "checkpoint", None)) and callable(getattr(s, "restore", None)) for s in sources)


def save(store: CheckpointStore, coverage: str, sources: Sequence[Source], aggregator: Aggregator,
         since: float | None, alerts: bytes | None = None, overlap: RequestOverlap | None = None) -> str | None:
    """Write a checkpoint of where the sources are and what was counted; why not, if it failed."""
    if not resumable(sources):
        return None
    saved = saved_sources(sources)
    return store.save(coverage, store.new(saved, aggstate.encode(aggregator.to_state()), since, alerts,
                                          None if overlap is None else overlap.to_state()))


def notices(resumed: Resumed) -> list[str]:
    """One line per thing to tell about the checkpoints (none when one was used without trouble)."""
    again = "" if resumed.checkpoint is not None else "; reading the history again"
    return [f"checkpoint {notice}{again}" for notice in resumed.notices]


def tell(resumed: Resumed, out: Any = None) -> None:
    """The notices on stderr (the headless commands' output stays clean)."""
    out = out or sys.stderr
    for line in notices(resumed):
        out.write(f"tokentop: {line}\n")


@dataclass(slots=True)
class Checkpointing:
    """How the live app keeps its checkpoint: where, which coverage, from when its counts begin, and
    the alert engine state it started from."""

    store: CheckpointStore
    coverage: str
    since: float | None
    alerts: bytes | None = None
    every: float = 60.0
    """Seconds between two checkpoints while the app runs (one more is written at every exit)."""


async def live_start(store: CheckpointStore | None, specs: Sequence[SourceConfig], config: Config, since: float,
                     clock: Clock) -> tuple[Resumed, Checkpointing | None]:
    """The live app's sources, resumed from the newest checkpoint that covers ``since`` (the moment
    the screen needs history from: ``core.readback``), else reading back to ``since``."""

    def start_for(checkpoint: Checkpoint | None) -> str:
        begins = since if checkpoint is None else checkpoint.since
        return "beginning" if begins is None else f"since:{begins!r}"

    resumed = await resume_or_open(store, [RECENT, FULL], specs, config, clock, start_for=start_for,
                                   accept=lambda c: c.since is None or c.since <= since)
    if store is None:
        return resumed, None
    found = resumed.checkpoint
    if found is not None and found.since is None:
        return resumed, Checkpointing(store, FULL, None, found.alerts)
    return resumed, Checkpointing(store, RECENT, since if found is None else found.since,
                                  None if found is None else found.alerts)
