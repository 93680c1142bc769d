"""How far back the live screen must read: the earliest moment anything shown or alerted on needs.

The live app reads each source back to this moment when it starts without a checkpoint, so a plan
gauge, a window or an alert baseline describes the same history ``tokentop snapshot`` would, rather
than only what arrived since launch. It is the earliest of:

* the start of the current billing period (the ``period`` window) and of every plan's current
  period, each in its own time zone (a rolling plan: its N hours before now);
* the longest window the screen offers (24 h; the burn rate looks back one hour);
* the lookback of every enabled alert rule (its windows and baselines).

Pure: the clock value is passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from tokentop.core.alerts.settings import AlertSettings
from tokentop.core.buckets import WINDOWS
from tokentop.core.plans import PlanBook

DAY: Final = 86400.0

Lookback = Callable[[Mapping[str, Any]], float]
LOOKBACK: Final[Mapping[str, Lookback]] = {
    "accuracy_drop": lambda c: max(c["window"], c["baseline_window"]),
    "logging_stopped": lambda c: max(c["baseline_window"], DAY),  # (it also weighs the day's gaps)
    "untracked_provider": lambda c: max(c["window"], c["missing_window"]),
    "counter_drift": lambda c: c["window"] + c["lag"] + 60,
    "totals_mismatch": lambda c: c["window"],
    "unknown_provider": lambda c: c["window"],
    "spike": lambda c: (c["recent_minutes"] + c["baseline_minutes"]) * 60.0,
}
"""Seconds before now each rule reads events of (rules on plans read the plan periods)."""


def alert_lookback(settings: AlertSettings) -> float:
    """The longest lookback of the enabled alert rules, in seconds."""
    return max((float(look(settings.rule(rule))) for rule, look in LOOKBACK.items() if rule in settings.enabled),
               default=0.0)


def history_start(plans: PlanBook, settings: AlertSettings, now: float) -> float:
    """The earliest moment (epoch seconds) the screen or an alert needs events from, as of ``now``."""
    starts = [plans.billing_period.bounds(now)[0], now - max(WINDOWS.values()), now - alert_lookback(settings)]
    starts += [plan.period.bounds(now)[0] for plan in plans.plans.values()]
    return min(starts)
