"""Fixtures for the UI tests: a deterministic app factory and a bounded wait."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timezone

import pytest

from tokentop.sources.base import Batch, Source
from tokentop.ui.app import TokentopApp

from .support import ListSource, event

NOW = 1_790_000_000.0
"""2026-09-21 14:13:20 UTC: the fixed clock of deterministic tests."""


async def wait_for(pilot, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ANN001
    """Let the app run until ``predicate`` holds (bounded; fails the test on timeout)."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.02)


def sample_events(n: int = 12, source: str = "gateway") -> list:
    users = ["alice", "bob", "carol"]
    models = [("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4"), ("google", "gemini-2.5-pro")]
    kinds = ["actual", "actual", "estimated", "actual", "missing", "actual"]
    out = []
    for i in range(n):
        provider, model = models[i % 3]
        kind = kinds[i % len(kinds)]
        prompt, completion = (0, 0) if kind == "missing" else (100 * (i + 1), 10 * (i + 1))
        out.append(event(i, ts=NOW - 600 + 40 * i, source=source, user=users[i % 3], provider=provider,
                         model=model, prompt=prompt, completion=completion, token_source=kind,
                         latency_ms=250.0 + i, status="ok" if i % 5 else "500", cost=0.001 * (i + 1)))
    return out


@pytest.fixture
def make_app(tmp_path) -> Callable[..., TokentopApp]:
    """An app on fixed events with a fixed clock and UTC, and its own (empty) user theme dir."""

    def make(events: Sequence | None = None, sources: Sequence[Source] | None = None, **options) -> TokentopApp:
        if sources is None:
            sources = [ListSource("gateway", [Batch(events=list(sample_events() if events is None else events))])]
        options.setdefault("clock", lambda: NOW)
        options.setdefault("tz", timezone.utc)
        options.setdefault("user_theme_dir", tmp_path / "themes")
        return TokentopApp(sources, **options)

    return make
