"""Rules about sources themselves: one that cannot be read (``source_error``) and one that was
receiving events and went silent for far longer than it usually does (``logging_stopped``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokentop.core.cells import NO_TAG, PLATFORM, SOURCE
from tokentop.core.alerts.model import Finding, Situation, span, subject

Settings = Mapping[str, Any]


def source_error(s: Situation, cfg: Settings) -> list[Finding]:
    findings = []
    for src in s.sources:
        if src.state == "error":
            findings.append(Finding("source_error", "critical", subject(source=src.name),
                                    f"source {src.name} cannot be read: {src.error or 'unknown error'}"))
        elif src.state == "stale":
            findings.append(Finding("source_error", cfg["stale_severity"], subject(source=src.name),
                                    f"source {src.name} is stale: {src.error or src.detail or 'no fresh data'}"))
        elif src.state == "waiting":  # its file does not exist (yet): the detail says which
            findings.append(Finding("source_error", cfg["stale_severity"], subject(source=src.name),
                                    f"source {src.name}: {src.detail or 'waiting for its file to appear'}"))
    return findings


def logging_stopped(s: Situation, cfg: Settings) -> list[Finding]:
    totals = s.memo("liveness_totals", lambda: _totals(s))
    findings = []
    for src in s.sources:
        if src.state in ("error", "stale", "waiting") or src.kind not in cfg["kinds"]:
            continue  # reported by source_error; or a source whose silence only means nobody used it
        whole = (src.name, None)
        stopped = _silence(s, cfg, totals.get(whole), whole, f"source {src.name}")
        if stopped:
            findings.append(Finding("logging_stopped", "warning", subject(source=src.name), stopped))
            continue
        if not cfg["platforms"]:
            continue
        for platform in sorted(p for name, p in totals if name == src.name and p is not None):
            part = (src.name, platform)
            stopped = _silence(s, cfg, totals[part], part, f"platform {platform} in source {src.name}")
            if stopped:
                findings.append(Finding("logging_stopped", "warning",
                                        subject(source=src.name, platform=platform), stopped))
    return findings


Subject = tuple[str, str | None]
"""(source, platform); platform None stands for the whole source."""


def _subjects(key: tuple[str, ...]) -> tuple[Subject, ...]:
    whole = (key[SOURCE], None)
    return (whole,) if key[PLATFORM] == NO_TAG else (whole, (key[SOURCE], key[PLATFORM]))


class Activity:
    """A subject's all-time request count and first and last event times."""

    __slots__ = ("requests", "first_ts", "last_ts")

    def __init__(self) -> None:
        self.requests, self.first_ts, self.last_ts = 0, float("inf"), float("-inf")


def _totals(s: Situation) -> dict[Subject, Activity]:
    totals: dict[Subject, Activity] = {}
    for key, counts in s.agg.all_cells():
        for subj in _subjects(key):
            into = totals.get(subj)
            if into is None:
                into = totals[subj] = Activity()
            into.requests += counts.requests
            into.first_ts = min(into.first_ts, counts.first_ts)
            into.last_ts = max(into.last_ts, counts.last_ts)
    return totals


def _spans(s: Situation) -> dict[Subject, list[tuple[float, float]]]:
    """In one pass over the time buckets: the (first, last) event time of every minute (and older
    hour) bucket each subject was active in, in time order. Only needed once something is silent."""
    spans: dict[Subject, list[tuple[float, float]]] = {}
    for bucket in s.agg.timeline():
        local: dict[Subject, tuple[float, float]] = {}
        for key, counts in bucket.items():
            if counts.requests <= 0:
                continue
            for subj in _subjects(key):
                first, last = local.get(subj, (counts.first_ts, counts.last_ts))
                local[subj] = (min(first, counts.first_ts), max(last, counts.last_ts))
        for subj, span_ in local.items():
            spans.setdefault(subj, []).append(span_)
    return spans


def _silence(s: Situation, cfg: Settings, total: Activity | None, subj: Subject, what: str) -> str:
    """Why ``what`` counts as stopped (empty if it does not): silent longer than ``min_silence``, than
    ``factor`` times its usual gap (the longest over ``baseline_window`` before its last event, or its
    mean gap over everything it sent), and than the gap it had at this time yesterday (so a source
    quiet at night by habit is not paged)."""
    if total is None or total.requests < cfg["min_events"]:
        return ""
    silence = s.now - total.last_ts
    if silence <= cfg["min_silence"]:
        return ""
    spans = s.memo("liveness_spans", lambda: _spans(s)).get(subj, [])
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


def _longest_gap(spans: list[tuple[float, float]]) -> float:
    longest, reach = 0.0, None
    for first, last in spans:
        if reach is not None and first > reach:
            longest = max(longest, first - reach)
        reach = last if reach is None else max(reach, last)
    return longest
