"""Rules about the quality of what was recorded: estimated instead of reported counts, totals that do
not add up, and requests nobody can attribute to a provider."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tokentop.core.cells import MODEL, PLATFORM, PROVIDER, SOURCE, Key, fold
from tokentop.core.alerts.model import Finding, Situation, subject
from tokentop.core.numbers import count, duration, requests, share
from tokentop.core.alerts.windows import cells_between, counter_sources, dimension_value
from tokentop.core.counts import Counts
from tokentop.core.event import UNKNOWN

Settings = Mapping[str, Any]


def accuracy_drop(s: Situation, cfg: Settings) -> list[Finding]:
    """Share of provider-reported (``actual``) requests below ``min_accuracy`` over ``window``, or
    ``drop`` below the same group's accuracy over the ``baseline_window`` before it."""
    # Fold once without source and user (the dimensions measured never need them), then per dimension.
    recent_cells = _compact(cells_between(s.agg, s.now - cfg["window"], s.now))
    # Providers first, so a model whose provider is already flagged is not reported twice.
    dims = sorted(cfg["dimensions"], key=lambda d: d != "provider")
    recent = {dim: fold(recent_cells, lambda k, d=dim: dimension_value(k, d)) for dim in dims}
    base_cells: list[tuple[Key, Counts]] = []
    accuracies = (_accuracy(c, cfg) for groups in recent.values() for c in groups.values())
    if any(a is not None and cfg["min_accuracy"] <= a <= 1 - cfg["drop"] for a in accuracies):
        # Only a group at or above min_accuracy can be reported for a drop, and only if one is possible.
        base_cells = _compact(cells_between(s.agg, s.now - cfg["baseline_window"], s.now - cfg["window"] - 60))
    findings: list[Finding] = []
    flagged_providers: set[str] = set()
    for dim in dims:
        base = fold(base_cells, lambda k, d=dim: dimension_value(k, d))
        for name, c in sorted(recent[dim].items()):
            if dim == "model" and str(name).partition("/")[0] in flagged_providers:
                continue
            judged = _judge(f"{dim} {name}", c, base.get(name), cfg)
            if judged is None:
                continue
            if dim == "provider":
                flagged_providers.add(str(name))
            findings.append(Finding("accuracy_drop", judged[0], subject(**{dim: str(name)}), judged[1]))
    return findings


def _accuracy(c: Counts | None, cfg: Settings) -> float | None:
    """Share of provider-reported requests, if there are enough requests to say."""
    if c is None or c.requests <= 0 or c.requests < cfg["min_requests"]:
        return None
    return c.actual / c.requests


def _judge(what: str, c: Counts, before: Counts | None, cfg: Settings) -> tuple[str, str] | None:
    """(severity, message) for a group whose accuracy is too low or fell sharply; None if fine."""
    accuracy, baseline = _accuracy(c, cfg), _accuracy(before, cfg)
    if accuracy is None:
        return None
    detail = (f"{what}: {share(accuracy)} of {requests(c.requests)} in the last {duration(cfg['window'])} "
              f"carried provider-reported counts ({count(c.estimated)} estimated, {count(c.missing)} missing)")
    if accuracy < cfg["min_accuracy"]:
        severity = "critical" if accuracy < cfg["critical_accuracy"] else "warning"
        return severity, f"{detail}; expected at least {share(cfg['min_accuracy'])}"
    if baseline is not None and baseline - accuracy >= cfg["drop"]:
        return "warning", f"{detail}, down from {share(baseline)} before"
    return None


def _compact(cells: Iterable[tuple[Key, Counts]]) -> list[tuple[Key, Counts]]:
    folded = fold(cells, lambda k: ("", k[PROVIDER], k[MODEL], "", k[PLATFORM]))
    return list(folded.items())  # type: ignore[arg-type]


def totals_mismatch(s: Situation, cfg: Settings) -> list[Finding]:
    """Requests whose reported total differs from prompt + completion, above ``max_rate``."""
    groups = fold(cells_between(s.agg, s.now - cfg["window"], s.now), lambda k: (k[SOURCE], k[PROVIDER]))
    findings = []
    for (source, provider), c in sorted(groups.items()):
        if c.requests < cfg["min_requests"] or c.mismatched == 0:
            continue
        rate = c.mismatched / c.requests
        if rate > cfg["max_rate"]:
            findings.append(Finding(
                "totals_mismatch", "warning", subject(source=source, provider=provider),
                f"{count(c.mismatched)} of {requests(c.requests)} ({share(rate)}) in the last {duration(cfg['window'])} "
                f"report a total that is not prompt + completion",
            ))
    return findings


def unknown_provider(s: Situation, cfg: Settings) -> list[Finding]:
    """Requests with no provider (none recorded and none inferable from the model name)."""
    skip = counter_sources(s)
    groups = fold(
        cells_between(s.agg, s.now - cfg["window"], s.now),
        lambda k: None if k[SOURCE] in skip else (k[SOURCE], k[PROVIDER] == UNKNOWN),
    )
    findings = []
    for source in sorted({src for src, _ in groups}):
        unknown = groups.get((source, True))
        if unknown is None or unknown.requests <= 0 or unknown.requests < cfg["min_requests"]:
            continue
        total = unknown.requests + (groups[(source, False)].requests if (source, False) in groups else 0)
        rate = unknown.requests / total
        if rate > cfg["max_rate"]:
            findings.append(Finding(
                "unknown_provider", "warning", subject(source=source),
                f"{count(unknown.requests)} of {requests(total)} ({share(rate)}) in the last {duration(cfg['window'])} "
                f"name no provider and none could be inferred from the model",
            ))
    return findings
