"""Rules about how much is being used: users near or over their plan limit, and sudden spikes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokentop.core import gauges
from tokentop.core.cells import DIMENSIONS, SOURCE, family_of
from tokentop.core.alerts.model import Finding, Situation, subject
from tokentop.core.numbers import count, duration, percent, rate as per
from tokentop.core.alerts.windows import dimension_value, tokens_per_minute

Settings = Mapping[str, Any]


def quota(s: Situation, cfg: Settings) -> list[Finding]:
    findings = []
    for user, standing in gauges.standings(s.agg, s.now, s.counted).items():
        pct = standing.percent
        if pct is None:
            continue
        plan = f"plan {standing.plan}" if standing.plan else "their limit"
        used = (f"{count(standing.period_tokens)} of {count(standing.limit or 0)} tokens ({percent(pct)} of {plan})"
                " this period")
        if pct >= cfg["critical_percent"]:
            findings.append(Finding("quota", "critical", subject(user=user), f"user {user} used {used}"))
        elif pct >= cfg["warning_percent"]:
            findings.append(Finding("quota", "warning", subject(user=user), f"user {user} used {used}"))
        elif pct >= cfg["projection_min_percent"]:
            at = standing.projected_exhaustion(s.now)
            if at is not None and at - s.now <= cfg["projection_horizon"]:
                findings.append(Finding(
                    "quota", "warning", subject(user=user),
                    f"user {user} used {used} and at {per(standing.burn_rate_per_hour, ' tokens/h')} will reach "
                    f"the limit in {duration(at - s.now)}, before the period ends",
                ))
    return findings


def spike(s: Situation, cfg: Settings) -> list[Finding]:
    """Tokens per minute over the last ``recent_minutes`` at least ``factor`` times the average of the
    ``baseline_minutes`` before, for a group active in at least ``min_active_minutes`` of them."""
    recent_n, base_n = cfg["recent_minutes"], cfg["baseline_minutes"]
    if recent_n < 1 or base_n < 1:
        return []
    counted = s.counted
    # The current minute is partial: count only the part of it that has elapsed.
    recent_span = recent_n - 1 + max((s.now % 60) / 60, 0.25)
    findings = []
    for dim in cfg["dimensions"]:
        if dim not in DIMENSIONS:
            continue
        series = tokens_per_minute(
            s.agg, lambda k, d=dim: dimension_value(k, d) if counted is None or counted(k[SOURCE]) else None,
            int(s.now // 60), recent_n + base_n, family_of(dim),
        )
        for name, per_minute in sorted(series.items()):
            baseline, recent = per_minute[:base_n], per_minute[base_n:]
            if sum(1 for t in baseline if t) < cfg["min_active_minutes"]:
                continue
            # Average from the group's first active minute: the minutes before it existed (or before
            # tokentop started) are not "quiet", they are unknown.
            first = next(i for i, t in enumerate(baseline) if t)
            rate, usual = sum(recent) / recent_span, sum(baseline) / (base_n - first)
            if rate >= cfg["min_tokens_per_minute"] and rate >= cfg["factor"] * usual:
                findings.append(Finding(
                    "spike", "warning", subject(**{dim: str(name)}),
                    f"{dim} {name}: {per(rate, ' tokens/min')} over the last {duration(recent_n * 60)}, "
                    f"{rate / usual:.0f}x the {per(usual, ' tokens/min')} of the {duration(base_n * 60)} before",
                ))
    return findings
