"""The rule registry: every rule is a pure function of a :class:`Situation` and its settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from tokentop.core.alerts.counters import counter_drift
from tokentop.core.alerts.liveness import logging_stopped, source_error
from tokentop.core.alerts.model import Finding, Situation
from tokentop.core.alerts.quality import accuracy_drop, totals_mismatch, unknown_provider
from tokentop.core.alerts.settings import AlertSettings
from tokentop.core.alerts.untracked import untracked_provider
from tokentop.core.alerts.usage import quota, spike

Rule = Callable[[Situation, Mapping[str, Any]], list[Finding]]

RULES: Final[Mapping[str, Rule]] = {
    "source_error": source_error,
    "logging_stopped": logging_stopped,
    "untracked_provider": untracked_provider,
    "counter_drift": counter_drift,
    "accuracy_drop": accuracy_drop,
    "totals_mismatch": totals_mismatch,
    "unknown_provider": unknown_provider,
    "quota": quota,
    "spike": spike,
}


def evaluate(situation: Situation, settings: AlertSettings) -> list[Finding]:
    """Every enabled rule's findings for this situation (mutes are applied by the engine).

    A rule that fails is reported as a finding of its own instead of taking the others (or the app)
    down with it.
    """
    findings: list[Finding] = []
    for rule_id, rule in RULES.items():
        if rule_id not in settings.enabled:
            continue
        try:
            findings.extend(rule(situation, settings.rule(rule_id)))
        except Exception as exc:  # noqa: BLE001 - isolate one rule's bug from the rest
            findings.append(Finding(rule_id, "warning", f"rule={rule_id}",
                                    f"alert rule {rule_id} failed: {type(exc).__name__}: {exc}"))
    return findings
