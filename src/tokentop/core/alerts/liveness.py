"""Rules about sources themselves: one that cannot be read (``source_error``) and one that was
receiving events and went silent for far longer than it usually does (``logging_stopped``)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from tokentop.core.cells import NO_TAG, PLATFORM, SOURCE
from tokentop.core.alerts.model import Finding, Situation, subject
from tokentop.core.numbers import count, duration

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
    ``factor`` times its usual gap, and than the gap it had at this time yesterday (so a source quiet
    at night by habit is not paged).

    The usual gap is the longest *healthy* gap over ``baseline_window`` before its last event, or its
    mean gap over everything it sent, whichever is longer. A gap that was itself an outage (longer
    than the threshold in force when it happened) is not healthy: learning from it would make the next
    outage look normal (a 2m39s stop, then a 48 s one, must both be reported).
    """
    if total is None or total.requests < cfg["min_events"]:
        return ""
    silence = s.now - total.last_ts
    if silence <= cfg["min_silence"]:
        return ""
    spans = s.memo("liveness_spans", lambda: _spans(s)).get(subj, [])
    mean = (total.last_ts - total.first_ts) / (total.requests - 1)
    usual = _usual_gap(_gaps(spans), total.last_ts, mean, cfg)
    threshold = max(cfg["min_silence"], cfg["factor"] * usual, _gap_around(spans, s.now - DAY, silence))
    if silence <= threshold:
        return ""
    return (f"{what} sent no events for {duration(silence)} (usually at most {duration(usual)} between "
            f"events, earlier outages left out; alerting after {duration(threshold)}; "
            f"{count(total.requests)} events before)")


def _gaps(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(start, end) of every gap between the active spans, oldest first."""
    gaps, reach = [], None
    for first, last in spans:
        if reach is not None and first > reach:
            gaps.append((reach, first))
        reach = last if reach is None else max(reach, last)
    return gaps


def _usual_gap(gaps: list[tuple[float, float]], at: float, mean: float, cfg: Settings) -> float:
    """The longest healthy gap ending within ``baseline_window`` before ``at``, or ``mean`` if longer.

    Gaps are judged in time order against the same threshold as a silence (``min_silence``, and
    ``factor`` times the usual gap known when the gap began); outages are left out of what later gaps
    are judged against. A pure function of the events, so the live app and ``tokentop check`` agree.
    """
    window, factor, floor = cfg["baseline_window"], cfg["factor"], cfg["min_silence"]
    healthy: deque[tuple[float, float]] = deque()
    """(end, length) of healthy gaps, lengths decreasing: the front is the longest in the window."""
    for start, end in gaps:
        while healthy and healthy[0][0] < start - window:
            healthy.popleft()
        usual = max(mean, healthy[0][1] if healthy else 0.0)
        length = end - start
        if length > max(floor, factor * usual):
            continue  # an outage
        while healthy and healthy[-1][1] <= length:
            healthy.pop()
        healthy.append((end, length))
    while healthy and healthy[0][0] < at - window:
        healthy.popleft()
    return max(mean, healthy[0][1] if healthy else 0.0)


DAY = 86400.0


def _gap_around(spans: list[tuple[float, float]], at: float, silence: float) -> float:
    """The longest gap that overlapped ``[at - silence, at]`` (the same stretch of time yesterday)."""
    longest = 0.0
    for (_, last), (first, _) in zip(spans, spans[1:]):
        if first > last and last <= at and first >= at - silence:
            longest = max(longest, first - last)
    return longest
