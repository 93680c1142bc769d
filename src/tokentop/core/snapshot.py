"""An immutable picture of the aggregated state at one instant: what panels draw and ``--json`` prints.

The JSON form is a documented, versioned contract (docs/snapshot.md); bump ``SNAPSHOT_VERSION`` on any
incompatible change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from tokentop.core import gauges
from tokentop.core.aggregate import Aggregator
from tokentop.core.counts import Counts
from tokentop.core.event import UsageEvent, iso
from tokentop.core.plans import Standing

SNAPSHOT_VERSION: Final = 1
GROUPS: Final = ("provider", "model", "user", "platform", "source")


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert as snapshots carry it (the alert engine owns the lifecycle)."""

    rule: str
    severity: str
    subject: str
    message: str
    since: float
    last_seen: float | None = None
    resolved_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "subject": self.subject,
            "message": self.message,
            "since": iso(self.since),
            "last_seen": iso(self.last_seen),
            "resolved_at": iso(self.resolved_at),
        }


@dataclass(frozen=True, slots=True)
class Snapshot:
    generated_at: float
    window: str
    sources: tuple[Mapping[str, Any], ...]
    """Each source's status as a dict (``SourceStatus.to_dict()``)."""
    totals: Counts
    groups: Mapping[str, Mapping[str, Counts]]
    """``provider``/``model``/``user``/``platform``/``source`` -> name -> counts in the window."""
    standings: Mapping[str, Standing]
    per_minute: Mapping[str, Mapping[str, Sequence[int]]] = field(default_factory=dict)
    """``provider``/``model`` -> name -> tokens per minute, oldest first (for sparklines)."""
    recent: tuple[UsageEvent, ...] = ()
    alerts: tuple[AlertView, ...] = ()
    resolved_alerts: tuple[AlertView, ...] = ()
    events_total: int = 0
    key_cap: Mapping[str, Any] = field(default_factory=dict)
    """``max_keys`` and, per capped dimension, how many names were ``folded`` into ``(other)``."""
    history: tuple[int, int, str] | None = None
    """(done, total, unit) of the history the sources are still reading (the live app catching up):
    until then every figure is a lower bound. None: complete (always, for a headless snapshot)."""

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "version": SNAPSHOT_VERSION,
            "generated_at": iso(self.generated_at),
            "window": self.window,
            "events_total": self.events_total,
            "key_cap": {"max_keys": self.key_cap.get("max_keys"), "folded": dict(self.key_cap.get("folded", {}))},
            "sources": [dict(s) for s in self.sources],
            "totals": self.totals.to_dict(),
        }
        for name in GROUPS:
            doc[f"by_{name}"] = {key: c.to_dict() for key, c in sorted(self.groups.get(name, {}).items())}
        for key, entry in doc["by_model"].items():
            provider, _, model = key.partition("/")
            entry["provider"], entry["model"] = provider, model
        by_user = doc["by_user"]
        for user in self.standings.keys() - by_user.keys():  # known only from a usage counter's reading
            by_user[user] = Counts().to_dict()
        doc["by_user"] = by_user = dict(sorted(by_user.items()))
        for user, entry in by_user.items():
            entry.update(standing_dict(self.standings.get(user), self.generated_at))
        doc["alerts"] = [a.to_dict() for a in self.alerts]
        return doc


def standing_dict(standing: Standing | None, now: float) -> dict[str, Any]:
    if standing is None:  # the same keys as a real standing, so consumers never test for presence
        return {"plan": None, "limit": None, "period_tokens": 0, "period_start": None, "period_end": None,
                "percent": None, "burn_rate_per_hour": 0.0, "projected_exhaustion_at": None}
    percent = standing.percent
    return {
        "plan": standing.plan,
        "limit": standing.limit,
        "period_tokens": standing.period_tokens,
        "period_start": iso(standing.period_start),
        "period_end": iso(standing.period_end),
        "percent": None if percent is None else round(percent, 2),
        "burn_rate_per_hour": round(standing.burn_rate_per_hour, 1),
        "projected_exhaustion_at": iso(standing.projected_exhaustion(now)),
    }


def take_snapshot(
    agg: Aggregator,
    now: float,
    *,
    window: str = "all",
    statuses: Sequence[Mapping[str, Any]] = (),
    counted: Callable[[str], bool] | None = None,
    alerts: Sequence[AlertView] = (),
    resolved_alerts: Sequence[AlertView] = (),
    minutes: int = 30,
    recent: int | None = None,
    history: tuple[int, int, str] | None = None,
) -> Snapshot:
    """Fold the aggregator's cells into a snapshot. ``counted`` picks the sources that count towards
    totals and groups (reference sources are left out); ``by_source`` always shows every source."""
    agg.fold_keys(down_to_limit=True)  # a report shows at most max_keys names per dimension
    totals, groups = agg.overview(window, now, counted)
    # (usage that came without requests -- OpenTelemetry metric deltas -- is counted, but is not a
    # request to list)
    requests = tuple(e for e in agg.recent_requests() if e.requests)
    events = requests if recent is None else requests[-recent:] if recent else ()
    return Snapshot(
        generated_at=now,
        window=window,
        sources=tuple(statuses),
        totals=totals,
        groups=groups,
        standings=gauges.standings(agg, now, counted),
        per_minute={name: agg.per_minute(name, now, minutes, counted) for name in ("provider", "model")},
        recent=events,
        alerts=tuple(alerts),
        resolved_alerts=tuple(resolved_alerts),
        events_total=agg.events,
        key_cap={"max_keys": agg.keycap.limit, "folded": dict(agg.keycap.folded)},
        history=history,
    )
