"""What tokentop exports to Prometheus, as plain data: counters, gauges and their labels, folded from the
aggregator, the sources' statuses and the active alerts (``tokentop.export`` renders it).

Counters are all-time totals since tokentop started (the ``all`` window), so Prometheus can take
``rate()`` and ``increase()`` of them; gauges are the current state (source health, user standings,
alerts).

Cardinality is bounded: only the top ``top_models`` (provider, model) pairs and ``top_users`` users get
their own label values; the rest are summed as ``other``. Admission is sticky: once a model has its
own series it keeps it for the life of the process, and new ones are admitted only while there is
room -- so a counter never moves between series, ``other`` only grows, and no counter ever goes
backwards because a ranking changed.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from tokentop.core.aggregate import Aggregator
from tokentop.core.cells import MODEL, PROVIDER, SOURCE
from tokentop.core.counts import Counts
from tokentop.core.snapshot import AlertView

OTHER: Final = "other"
STATES: Final = ("starting", "ok", "stale", "waiting", "error", "done")
TOKEN_TYPES: Final = (("input", "prompt_tokens"), ("output", "completion_tokens"), ("cache_read", "cached_tokens"),
                      ("cache_write", "cache_write_tokens"), ("reasoning", "reasoning_tokens"))
"""Label value -> Counts field. ``input`` includes cache reads and writes; ``output`` includes reasoning."""

Kind = Literal["counter", "gauge", "stateset", "info"]
Labels = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class Family:
    name: str
    """Without ``_total`` (the renderer adds it to counters)."""
    kind: Kind
    help: str
    samples: list[tuple[Labels, Any]] = field(default_factory=list)

    def add(self, value: Any, **labels: str) -> None:
        self.samples.append((tuple(labels.items()), value))


class TopN:
    """Sticky admission of label values (see the module docstring)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.admitted: set[Hashable] = set()

    def update(self, ranking: Mapping[Hashable, float]) -> None:
        if len(self.admitted) >= self.n:
            return
        for key in sorted(ranking, key=lambda k: (-ranking[k], str(k))):
            if len(self.admitted) >= self.n:
                break
            self.admitted.add(key)

    def __contains__(self, key: Hashable) -> bool:
        return key in self.admitted


@dataclass(frozen=True, slots=True)
class ViewSettings:
    top_models: int = 50
    top_users: int = 100


class MetricsView:
    """Builds the families each time it is asked (``build``); keeps the sticky admissions between."""

    def __init__(self, settings: ViewSettings = ViewSettings(), version: str = "") -> None:
        self.settings = settings
        self.version = version
        self.models = TopN(settings.top_models)
        self.users = TopN(settings.top_users)

    def build(self, agg: Aggregator, now: float, statuses: Sequence[Mapping[str, Any]],
              alerts: Iterable[AlertView], counted: Callable[[str], bool] | None = None) -> list[Family]:
        """Every family as of ``now`` (call with the aggregator quiet: it reads its cells)."""
        families = self._usage(agg)
        families += self._sources(statuses)
        families += self._users(agg, now, counted)
        active = Family("tokentop_alert_active", "gauge", "1 for each active alert (rule, severity, subject)")
        for alert in alerts:
            active.add(1, rule=alert.rule, severity=alert.severity, subject=alert.subject)
        info = Family("tokentop_build", "info", "tokentop's version")
        info.add(1, version=self.version)
        return [*families, active, info]

    def _usage(self, agg: Aggregator) -> list[Family]:
        by_model: dict[tuple[str, str, str], Counts] = {}
        for key, counts in agg.window_cells("all", 0.0):
            group = (key[SOURCE], key[PROVIDER], key[MODEL])
            into = by_model.get(group)
            if into is None:
                into = by_model[group] = Counts()
            into.merge(counts)
        ranking: dict[Hashable, float] = {}
        for (_, provider, model), counts in by_model.items():
            ranking[(provider, model)] = ranking.get((provider, model), 0) + counts.total_tokens
        self.models.update(ranking)
        bounded: dict[tuple[str, str, str], Counts] = {}
        for (source, provider, model), counts in by_model.items():
            if (provider, model) not in self.models:
                provider = model = OTHER
            into = bounded.get((source, provider, model))
            if into is None:
                into = bounded[(source, provider, model)] = Counts()
            into.merge(counts)
        return _usage_families(bounded)

    def _sources(self, statuses: Sequence[Mapping[str, Any]]) -> list[Family]:
        events = Family("tokentop_source_events", "counter", "Events read by each source")
        skipped = Family("tokentop_skipped_records", "counter", "Records a source could not use, by reason")
        state = Family("tokentop_source_state", "stateset", "Each source's state")
        lag = Family("tokentop_source_lag_seconds", "gauge",
                     "How far behind the source is (age of its newest record when read, or of its last answer)")
        for status in statuses:
            name = str(status["name"])
            events.add(status["events"], source=name)
            for reason, n in sorted(status["skip_reasons"].items()):
                skipped.add(n, source=name, reason=reason)
            state.add({s: s == status["status"] for s in STATES}, source=name)
            if status.get("lag_seconds") is not None:
                lag.add(status["lag_seconds"], source=name)
        return [events, skipped, state, lag]

    def _users(self, agg: Aggregator, now: float, counted: Callable[[str], bool] | None) -> list[Family]:
        standings = agg.standings(now, counted)
        self.users.update({user: s.period_tokens for user, s in standings.items()})
        used = Family("tokentop_user_period_tokens", "gauge",
                      "Tokens each user used in their current plan period (the rest summed as user=\"other\")")
        limit = Family("tokentop_user_limit_tokens", "gauge", "Each user's token limit for the period, when known")
        other = 0
        for user, standing in standings.items():
            if user not in self.users:
                other += standing.period_tokens
                continue
            used.add(standing.period_tokens, user=user)
            if standing.limit is not None:
                limit.add(standing.limit, user=user)
        if other:
            used.add(other, user=OTHER)
        return [used, limit]


def _usage_families(bounded: Mapping[tuple[str, str, str], Counts]) -> list[Family]:
    requests = Family("tokentop_requests", "counter", "Requests by token source (actual = provider-reported usage)")
    tokens = Family("tokentop_tokens", "counter",
                    "Tokens by type; input includes cache_read and cache_write, output includes reasoning")
    cost = Family("tokentop_cost_usd", "counter", "Cost in US dollars (reported, else from tokentop's price table)")
    failed = Family("tokentop_failed_requests", "counter", "Requests that failed (an error or a non-OK status)")
    mismatched = Family("tokentop_mismatched_requests", "counter",
                        "Requests whose reported total differs from input + output")
    accuracy = Family("tokentop_accuracy_ratio", "gauge", "Share of requests with provider-reported usage, per source")
    per_source: dict[str, Counts] = {}
    for (source, provider, model), c in sorted(bounded.items()):
        labels = {"source": source, "provider": provider, "model": model}
        for token_source in ("actual", "estimated", "missing"):
            requests.add(getattr(c, token_source), **labels, token_source=token_source)
        for kind, name in TOKEN_TYPES:
            tokens.add(getattr(c, name), **labels, type=kind)
        cost.add(c.cost, **labels)
        failed.add(c.errors, **labels)
        mismatched.add(c.mismatched, **labels)
        per_source.setdefault(source, Counts()).merge(c)
    for source, c in sorted(per_source.items()):
        if c.accuracy is not None:
            accuracy.add(c.accuracy, source=source)
    return [requests, tokens, cost, failed, mismatched, accuracy]
