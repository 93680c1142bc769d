"""Alert rules (pure functions of the aggregated state and a clock value) and the alert lifecycle.

See docs/alerts.md for every rule id, its defaults and the ``[alerts]`` config keys.
"""

from __future__ import annotations

from tokentop.core.alerts.engine import AlertEngine, Mutes, Transition, findings_to_views
from tokentop.core.alerts.model import SEVERITIES, Finding, Situation, SourceInfo
from tokentop.core.alerts.rules import RULES, evaluate
from tokentop.core.alerts.settings import DEFAULTS, AlertSettings, SettingError, parse_alert_settings

__all__ = [
    "DEFAULTS", "RULES", "SEVERITIES", "AlertEngine", "AlertSettings", "Finding", "Mutes", "SettingError",
    "Situation", "SourceInfo", "Transition", "evaluate", "findings_to_views", "parse_alert_settings",
]
