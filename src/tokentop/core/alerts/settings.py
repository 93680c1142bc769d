"""The ``[alerts]`` config table: per-rule thresholds over documented defaults, mutes and lifecycle.

Each rule reads ``[alerts.<rule_id>]``; a key's default value fixes its type, so a wrong type or an
unknown key is reported with its full name (``alerts.spike.factor``) instead of being ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from tokentop.core.aggregate import DIMENSIONS

DEFAULTS: Final[Mapping[str, Mapping[str, Any]]] = {
    "accuracy_drop": {
        "window": 300, "baseline_window": 3600, "min_requests": 20, "min_accuracy": 0.9,
        "critical_accuracy": 0.5, "drop": 0.2, "dimensions": ["provider", "model", "platform"],
    },
    "logging_stopped": {
        "min_silence": 45, "factor": 4.0, "baseline_window": 21600, "min_events": 20, "platforms": True,
        "kinds": ["jsonl", "sqlite"],
    },
    "untracked_provider": {
        "window": 600, "min_requests": 5, "missing_window": 300, "missing_rate": 0.02, "min_ratio": 0.5,
        "dimensions": ["provider", "platform", "user"], "pairs": [],
    },
    "counter_drift": {
        "window": 900, "min_interval": 60, "min_tokens": 500, "tolerance": 0.1, "lag": 10,
        "resets": True, "reset_grace": 3600,
    },
    "totals_mismatch": {"window": 300, "min_requests": 20, "max_rate": 0.02},
    "unknown_provider": {"window": 300, "min_requests": 5, "max_rate": 0.0},
    "quota": {
        "warning_percent": 80.0, "critical_percent": 100.0, "projection_horizon": 86400,
        "projection_min_percent": 50.0,
    },
    "spike": {
        "factor": 5.0, "recent_minutes": 2, "baseline_minutes": 30, "min_tokens_per_minute": 5000,
        "min_active_minutes": 5, "dimensions": ["user", "provider"],
    },
    "source_error": {"stale_severity": "warning"},
}
"""Every rule id and its defaults (docs/alerts.md lists what each key means)."""

for _table in DEFAULTS.values():
    _table.setdefault("enabled", True)  # type: ignore[attr-defined]

LIFECYCLE_DEFAULTS: Final[Mapping[str, Any]] = {
    "interval": 5.0, "resolve_after": 3, "resolve_seconds": 30.0, "keep_resolved": 900.0,
    "mute": [], "log": "", "command": "", "command_timeout": 10.0, "bell": False,
}


class SettingError(ValueError):
    """A bad ``[alerts]`` setting; ``key`` is its full dotted name."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key, self.problem = key, problem


@dataclass(frozen=True, slots=True)
class AlertSettings:
    rules: Mapping[str, Mapping[str, Any]]
    """rule id -> its settings (defaults merged with config)."""
    interval: float = 5.0
    """Seconds between evaluations in the live app."""
    resolve_after: int = 3
    """An alert resolves only after this many consecutive clear evaluations ..."""
    resolve_seconds: float = 30.0
    """... and this long since it was last seen (hysteresis, so it does not flap)."""
    keep_resolved: float = 900.0
    """How long a resolved alert stays listed."""
    mute: tuple[str, ...] = ()
    log: str = ""
    command: str = ""
    command_timeout: float = 10.0
    bell: bool = False
    enabled: frozenset[str] = field(default_factory=frozenset)

    def rule(self, rule_id: str) -> Mapping[str, Any]:
        return self.rules[rule_id]


def parse_alert_settings(table: Mapping[str, Any] | None) -> AlertSettings:
    """Validate an ``[alerts]`` table; raises :class:`SettingError` naming the bad key."""
    table = table or {}
    rules: dict[str, Mapping[str, Any]] = {}
    top: dict[str, Any] = {}
    for key, value in table.items():
        if key in DEFAULTS:
            if not isinstance(value, Mapping):
                raise SettingError(f"alerts.{key}", "must be a table of thresholds")
        elif key in LIFECYCLE_DEFAULTS:
            top[key] = _typed(value, LIFECYCLE_DEFAULTS[key], f"alerts.{key}")
        else:
            known = ", ".join([*LIFECYCLE_DEFAULTS, *DEFAULTS])
            raise SettingError(f"alerts.{key}", f"unknown setting or rule (known: {known})")
    for rule_id, defaults in DEFAULTS.items():
        given = table.get(rule_id, {})
        merged = dict(defaults)
        for key, value in given.items():
            if key not in defaults:
                raise SettingError(f"alerts.{rule_id}.{key}", f"unknown key (known: {', '.join(defaults)})")
            merged[key] = _typed(value, defaults[key], f"alerts.{rule_id}.{key}")
        _check_rule(rule_id, merged)
        rules[rule_id] = MappingProxyType(merged)
    mute = tuple(top.pop("mute", ()))
    for entry in mute:
        if not isinstance(entry, str):
            raise SettingError("alerts.mute", 'must be a list of "rule" or "rule:subject" strings')
        rule_id = entry.partition(":")[0]
        if rule_id not in DEFAULTS:
            raise SettingError("alerts.mute", f"unknown rule {rule_id!r} in {entry!r}")
    enabled = frozenset(r for r, s in rules.items() if s["enabled"])
    return AlertSettings(rules=MappingProxyType(rules), mute=mute, enabled=enabled, **top)


def _typed(value: Any, default: Any, key: str) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise SettingError(key, "must be true or false")
        return value
    if isinstance(default, int | float):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise SettingError(key, "must be a number >= 0")
        if isinstance(default, int) and not isinstance(value, int):
            raise SettingError(key, "must be a whole number >= 0")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise SettingError(key, "must be a string")
        return value
    if not isinstance(value, list):
        raise SettingError(key, "must be a list")
    if default and all(isinstance(d, str) for d in default) and not all(isinstance(v, str) for v in value):
        raise SettingError(key, "must be a list of strings")
    return list(value)


def _check_rule(rule_id: str, merged: dict[str, Any]) -> None:
    where = f"alerts.{rule_id}"
    for dim in merged.get("dimensions", ()):
        if dim not in DIMENSIONS:
            raise SettingError(f"{where}.dimensions", f"unknown dimension {dim!r} (use {', '.join(DIMENSIONS)})")
    for pair in merged.get("pairs", ()):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise SettingError(f"{where}.pairs", 'must be a list of ["primary", "reference"] source name pairs')
    if "stale_severity" in merged and merged["stale_severity"] not in ("info", "warning", "critical"):
        raise SettingError(f"{where}.stale_severity", "must be 'info', 'warning' or 'critical'")
