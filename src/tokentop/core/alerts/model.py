"""What the alert rules see (a read-only situation) and what they return (findings)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from tokentop.core.aggregate import Aggregator

SEVERITIES: Final = ("info", "warning", "critical")
SEVERITY_RANK: Final = {name: rank for rank, name in enumerate(SEVERITIES)}
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Finding:
    """One condition a rule sees right now; the engine turns findings into alerts with a lifecycle."""

    rule: str
    severity: str
    subject: str
    message: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule, self.subject)


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What the rules need to know about a source (a plain copy of its status, so rules stay pure)."""

    name: str
    kind: str = "jsonl"
    role: str = "primary"
    state: str = "ok"
    error: str | None = None
    detail: str | None = None

    @classmethod
    def of(cls, source: Any) -> SourceInfo:
        """From a :class:`tokentop.sources.base.Source` (duck-typed: core does not import sources)."""
        status = source.status
        return cls(source.name, source.kind, source.role, status.state, status.error, status.detail)


@dataclass(frozen=True, slots=True)
class Situation:
    """Everything one evaluation looks at: the aggregates, the sources and the clock value."""

    agg: Aggregator
    now: float
    sources: Sequence[SourceInfo] = ()
    _memo: dict[Hashable, Any] = field(default_factory=dict, compare=False, repr=False)

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per evaluation: indexes several rules (or subjects) share."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]  # type: ignore[no-any-return]

    @property
    def counted(self) -> Callable[[str], bool] | None:
        """Primary sources count towards usage; reference ones only when there is no primary one
        (the same choice ``tokentop snapshot`` makes)."""
        primary = {s.name for s in self.sources if s.role == "primary"}
        return (lambda name: name in primary) if primary else None


def subject(**parts: str) -> str:
    """``provider=deepseek``, ``source=gateway platform=instagram``: stable, mutable by text."""
    return " ".join(f"{name}={value}" for name, value in parts.items())

