"""Plans (token limits per period), which user is on which plan, and each user's standing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tokentop.core.periods import Period


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    limit: int | None
    """Tokens allowed per period; None means unlimited."""
    period: Period


@dataclass(frozen=True, slots=True)
class PlanBook:
    """The configured plans, the user -> plan map and the default plan (all optional)."""

    plans: Mapping[str, Plan] = field(default_factory=dict)
    assignments: Mapping[str, str] = field(default_factory=dict)
    default_plan: str | None = None
    billing_period: Period = field(default_factory=lambda: Period.parse("month"))
    """The period used for the ``period`` window when a user has no plan."""

    def plan_for(self, user: str) -> Plan | None:
        name = self.assignments.get(user, self.default_plan)
        return self.plans.get(name) if name is not None else None


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a user stands against their limit in the current period."""

    plan: str | None
    limit: int | None
    period_tokens: int
    period_start: float
    period_end: float
    burn_rate_per_hour: float
    """Tokens per hour over the last hour (or the elapsed part of it)."""

    @property
    def percent(self) -> float | None:
        if not self.limit:
            return None
        return 100.0 * self.period_tokens / self.limit

    def projected_exhaustion(self, now: float) -> float | None:
        """When the limit will be reached at the current burn rate, if before the period ends.

        Already over the limit: ``now``. Not reached this period (or no limit, no burn): None.
        """
        if not self.limit:
            return None
        remaining = self.limit - self.period_tokens
        if remaining <= 0:
            return now
        if self.burn_rate_per_hour <= 0:
            return None
        at = now + remaining / self.burn_rate_per_hour * 3600.0
        return at if at < self.period_end else None
