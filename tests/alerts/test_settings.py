from __future__ import annotations

import pytest

from tokentop.config import ConfigError, parse_config
from tokentop.core.alerts import DEFAULTS, RULES, SettingError, parse_alert_settings


def test_every_rule_has_documented_defaults_and_is_enabled():
    settings = parse_alert_settings({})
    assert set(DEFAULTS) == set(RULES)
    assert settings.enabled == frozenset(RULES)
    assert settings.rule("accuracy_drop")["min_accuracy"] == 0.9
    assert settings.rule("quota")["warning_percent"] == 80.0
    assert (settings.resolve_after, settings.mute) == (3, ())


def test_overrides_merge_over_defaults():
    settings = parse_alert_settings({
        "accuracy_drop": {"min_accuracy": 0.95, "window": 600},
        "spike": {"enabled": False},
        "mute": ["quota", "logging_stopped:source=ledger"],
        "resolve_after": 5,
    })
    rule = settings.rule("accuracy_drop")
    assert (rule["min_accuracy"], rule["window"], rule["min_requests"]) == (0.95, 600, 20)
    assert "spike" not in settings.enabled
    assert settings.mute == ("quota", "logging_stopped:source=ledger")
    assert settings.resolve_after == 5


@pytest.mark.parametrize(("table", "key"), [
    ({"accuracy_drop": {"min_acuracy": 0.9}}, "alerts.accuracy_drop.min_acuracy"),
    ({"accuracy_drop": {"window": "5m"}}, "alerts.accuracy_drop.window"),
    ({"accuracy_drop": {"min_requests": 2.5}}, "alerts.accuracy_drop.min_requests"),
    ({"spike": {"factor": -1}}, "alerts.spike.factor"),
    ({"spike": {"enabled": "yes"}}, "alerts.spike.enabled"),
    ({"spike": {"dimensions": ["tenant"]}}, "alerts.spike.dimensions"),
    ({"logging_stopped": {"kinds": ["jsonl", 3]}}, "alerts.logging_stopped.kinds"),
    ({"untracked_provider": {"pairs": [["gateway"]]}}, "alerts.untracked_provider.pairs"),
    ({"nosuchrule": {}}, "alerts.nosuchrule"),
    ({"quota": 80}, "alerts.quota"),
    ({"mute": ["nosuchrule:user=a"]}, "alerts.mute"),
    ({"mute": [3]}, "alerts.mute"),
    ({"source_error": {"stale_severity": "loud"}}, "alerts.source_error.stale_severity"),
])
def test_bad_settings_name_their_key(table, key):
    with pytest.raises(SettingError) as info:
        parse_alert_settings(table)
    assert info.value.key == key


def test_config_errors_name_the_file(tmp_path):
    # (checked when the config is read, for every command: see tests/test_hardening_process.py)
    with pytest.raises(ConfigError, match=r"tokentop.toml: alerts.quota.warning_percent: must be a number"):
        parse_config({"alerts": {"quota": {"warning_percent": "high"}}}, tmp_path / "tokentop.toml")
