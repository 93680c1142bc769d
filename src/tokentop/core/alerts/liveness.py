"""Rules about sources themselves: one that cannot be read (``source_error``) and one that was
receiving events and went silent for far longer than it usually does (``logging_stopped``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tokentop.core.aggregate import NO_TAG, PLATFORM, SOURCE
from tokentop.core.alerts.model import Finding, Situation, subject
from tokentop.core.alerts.quality import span
from tokentop.core.counts import Counts

Settings = Mapping[str, Any]


def source_error(s: Situation, cfg: Settings) -> list[Finding]:
    findings = []
    for src in s.sources:
        if src.state == "error":
            findings.append(Finding("source_error", "critical", subject(source=src.name),
                                    f"source {src.name} cannot be read: {src.error or 'unknown error'}"))
        elif src.state == "stale":
            findings.append(Finding("source_error", cfg["stale_severity"], subject(source=src.name),
                                    f"source {src.name} is stale: {src.error or 'no fresh data'}"))
    return findings


def logging_stopped(s: Situation, cfg: Settings) -> list[Finding]:
    findings = []
    for src in s.sources:
        if src.state in ("error", "stale"):
            continue  # reported by source_error
        stopped = _silence(s, cfg, lambda k, n=src.name: k[SOURCE] == n, f"source {src.name}")
        if stopped:
            findings.append(Finding("logging_stopped", "warning", subject(source=src.name), stopped))
            continue
        if not cfg["platforms"]:
            continue
        platforms = {k[PLATFORM] for k in s.agg.cells if k[SOURCE] == src.name and k[PLATFORM] != NO_TAG}
        for platform in sorted(platforms):
            stopped = _silence(s, cfg, lambda k, n=src.name, p=platform: k[SOURCE] == n and k[PLATFORM] == p,
                               f"platform {platform} in source {src.name}")
            if stopped:
                findings.append(Finding("logging_stopped", "warning",
                                        subject(source=src.name, platform=platform), stopped))
    return findings


def _silence(s: Situation, cfg: Settings, match: Any, what: str) -> str:
    """Why ``what`` counts as stopped (empty if it does not): silent longer than ``min_silence``, than
    ``factor`` times its usual gap (the longest over ``baseline_window`` before its last event, or its
    mean gap over everything it sent), and than the gap it had at this time yesterday (so a source
    quiet at night by habit is not paged)."""
    total = Counts()
    for key, counts in s.agg.cells.items():
        if match(key):
            total.merge(counts)
    if total.requests < cfg["min_events"]:
        return ""
    silence = s.now - total.last_ts
    if silence <= cfg["min_silence"]:
        return ""
    spans = sorted(_activity(s, match))
    recent = [(a, b) for a, b in spans if b >= total.last_ts - cfg["baseline_window"]]
    mean = (total.last_ts - total.first_ts) / (total.requests - 1)
    usual = max(_longest_gap(recent), mean)
    threshold = max(cfg["min_silence"], cfg["factor"] * usual, _gap_around(spans, s.now - DAY, silence))
    if silence <= threshold:
        return ""
    return (f"{what} sent no events for {span(silence)} (it had {total.requests}; gaps were at most "
            f"{span(usual)} before; alerting after {span(threshold)})")


DAY = 86400.0


def _gap_around(spans: list[tuple[float, float]], at: float, silence: float) -> float:
    """The longest gap that overlapped ``[at - silence, at]`` (the same stretch of time yesterday)."""
    longest = 0.0
    for (_, last), (first, _) in zip(spans, spans[1:]):
        if first > last and last <= at and first >= at - silence:
            longest = max(longest, first - last)
    return longest


def _activity(s: Situation, match: Any) -> Iterator[tuple[float, float]]:
    """(first, last) event time of each minute (and older hour) bucket the subject was active in."""
    for buckets in (s.agg.minutes, s.agg.hours):
        for bucket in buckets.values():
            first, last = float("inf"), float("-inf")
            for key, counts in bucket.items():
                if match(key) and counts.requests > 0:
                    first, last = min(first, counts.first_ts), max(last, counts.last_ts)
            if first <= last:
                yield first, last


def _longest_gap(spans: list[tuple[float, float]]) -> float:
    longest, reach = 0.0, None
    for first, last in spans:
        if reach is not None and first > reach:
            longest = max(longest, first - reach)
        reach = last if reach is None else max(reach, last)
    return longest
