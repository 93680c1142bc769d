"""The alert lifecycle: findings become alerts that start, escalate and resolve by themselves.

An alert is identified by (rule, subject). It starts the first time a rule reports it, and resolves
only once it has been clear for ``resolve_after`` consecutive evaluations *and* ``resolve_seconds``
since it was last seen, so a condition hovering at a threshold does not flap. Mutes (per rule, or per
``rule:subject``) drop findings before they become alerts. Pure: the clock value is passed in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass
from typing import Any, Literal

import msgspec

from tokentop.core.alerts.model import SEVERITY_RANK, Finding
from tokentop.core.alerts.settings import AlertSettings, parse_alert_settings
from tokentop.core.event import iso
from tokentop.core.snapshot import AlertView

TransitionKind = Literal["start", "escalate", "end"]


@dataclass(slots=True)
class _Alert:
    rule: str
    severity: str
    subject: str
    message: str
    since: float
    last_seen: float
    clear_count: int = 0
    resolved_at: float | None = None

    def view(self) -> AlertView:
        return AlertView(self.rule, self.severity, self.subject, self.message, self.since, self.last_seen,
                         self.resolved_at)


_AlertRow = tuple[str, str, str, str, float, float, int, float | None]
"""An alert's fields, in order (a checkpoint keeps them so)."""


@dataclass(frozen=True, slots=True)
class Transition:
    """An alert starting, rising in severity, or ending: what the log, the command and the bell get."""

    kind: TransitionKind
    alert: AlertView
    at: float

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, "at": iso(self.at), **self.alert.to_dict()}


class Mutes:
    """``"rule"`` mutes every subject of a rule; ``"rule:subject"`` mutes one."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.entries: set[str] = set(entries)

    def add(self, rule: str, subject: str | None = None) -> None:
        self.entries.add(rule if subject is None else f"{rule}:{subject}")

    def remove(self, rule: str, subject: str | None = None) -> None:
        self.entries.discard(rule if subject is None else f"{rule}:{subject}")

    def __call__(self, rule: str, subject: str) -> bool:
        return rule in self.entries or f"{rule}:{subject}" in self.entries


def merge_findings(findings: Iterable[Finding]) -> dict[tuple[str, str], Finding]:
    """One finding per (rule, subject): the highest severity, the distinct messages joined."""
    out: dict[tuple[str, str], Finding] = {}
    for f in findings:
        seen = out.get(f.key)
        if seen is None:
            out[f.key] = f
            continue
        severity = max(seen.severity, f.severity, key=SEVERITY_RANK.__getitem__)
        message = seen.message if f.message in seen.message else f"{seen.message}; {f.message}"
        out[f.key] = Finding(f.rule, severity, f.subject, message)
    return out


def by_urgency(views: Iterable[AlertView]) -> list[AlertView]:
    return sorted(views, key=lambda a: (-SEVERITY_RANK.get(a.severity, 0), a.since, a.rule, a.subject))


class AlertEngine:
    def __init__(self, settings: AlertSettings | None = None) -> None:
        self.settings = settings or parse_alert_settings({})
        self.mutes = Mutes(self.settings.mute)
        self._active: dict[tuple[str, str], _Alert] = {}
        self._resolved: deque[_Alert] = deque(maxlen=200)

    def update(self, findings: Iterable[Finding], now: float) -> list[Transition]:
        """Apply one evaluation's findings; return the transitions it caused, starts first."""
        current = merge_findings(f for f in findings if not self.mutes(f.rule, f.subject))
        transitions: list[Transition] = []
        for key, f in current.items():
            alert = self._active.get(key)
            if alert is None:
                alert = self._active[key] = _Alert(f.rule, f.severity, f.subject, f.message, now, now)
                transitions.append(Transition("start", alert.view(), now))
                continue
            rose = SEVERITY_RANK[f.severity] > SEVERITY_RANK[alert.severity]
            alert.severity, alert.message, alert.last_seen, alert.clear_count = f.severity, f.message, now, 0
            if rose:
                transitions.append(Transition("escalate", alert.view(), now))
        for key, alert in list(self._active.items()):
            if key in current:
                continue
            alert.clear_count += 1
            if alert.clear_count >= self.settings.resolve_after and now - alert.last_seen >= self.settings.resolve_seconds:
                alert.resolved_at = now
                del self._active[key]
                self._resolved.appendleft(alert)
                transitions.append(Transition("end", alert.view(), now))
        self._forget_resolved(now)
        return transitions

    def mute(self, rule: str, subject: str | None = None) -> None:
        """Mute at runtime; matching active alerts are dropped (no end transition: nothing ended)."""
        self.mutes.add(rule, subject)
        for key in [k for k in self._active if self.mutes(*k)]:
            del self._active[key]

    def unmute(self, rule: str, subject: str | None = None) -> None:
        self.mutes.remove(rule, subject)

    @property
    def active(self) -> list[AlertView]:
        """Active alerts, most urgent first."""
        return by_urgency(a.view() for a in self._active.values())

    def resolved(self, now: float) -> list[AlertView]:
        """Alerts resolved within ``keep_resolved`` seconds of ``now``, newest first."""
        keep = self.settings.keep_resolved
        return [a.view() for a in self._resolved if a.resolved_at is not None and now - a.resolved_at <= keep]

    # -- as data (a checkpoint): a restart neither announces the alerts already active again nor
    #    forgets those resolved a moment ago

    def to_state(self) -> bytes:
        alerts = [*self._active.values(), *self._resolved]
        return msgspec.msgpack.encode([len(self._active), [astuple(a) for a in alerts]])

    def restore(self, state: bytes) -> bool:
        """Take the alerts of :meth:`to_state`; False (nothing taken) when ``state`` is not one."""
        try:
            active, rows = msgspec.msgpack.decode(state, type=tuple[int, list[_AlertRow]])
        except msgspec.DecodeError:
            return False
        alerts = [_Alert(*row) for row in rows]
        self._active = {(a.rule, a.subject): a for a in alerts[:active] if not self.mutes(a.rule, a.subject)}
        self._resolved.clear()
        self._resolved.extend(alerts[active:])
        return True

    def _forget_resolved(self, now: float) -> None:
        keep = self.settings.keep_resolved
        while self._resolved and now - (self._resolved[-1].resolved_at or now) > keep:
            self._resolved.pop()


def findings_to_views(findings: Sequence[Finding], now: float, settings: AlertSettings) -> list[AlertView]:
    """A single evaluation with no history (``tokentop check``): every unmuted finding, most urgent first."""
    mutes = Mutes(settings.mute)
    merged = merge_findings(f for f in findings if not mutes(f.rule, f.subject))
    return by_urgency(AlertView(f.rule, f.severity, f.subject, f.message, now, now) for f in merged.values())
