"""Config search order and errors that name the file, the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokentop.config import ConfigError, find_config, load_config

GOOD = """
[billing]
period = "month"
timezone = "Europe/Paris"

[plans.free]
limit = 1000

[plans.burst]
limit = 500
period = "rolling 5h"

[plans.ny]
limit = 10
timezone = "America/New_York"

[users]
default_plan = "free"
plans = { alice = "burst" }

[sources.gw]
kind = "jsonl"
path = "/var/log/gw.jsonl"
role = "reference"

[alerts]
mute = ["spike"]

[display]
theme = "dark"

[prices]
"gpt-4o" = { input = 2.5, output = 10 }
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "t.toml", GOOD))
    book = config.plans
    assert book.billing_period.kind == "month" and str(book.billing_period.tz) == "Europe/Paris"
    assert book.plan_for("alice").name == "burst" and book.plan_for("alice").period.hours == 5
    assert book.plan_for("bob").name == "free" and book.plans["free"].period == book.billing_period
    assert str(book.plans["ny"].period.tz) == "America/New_York" and book.plans["ny"].period.kind == "month"
    assert [(s.name, s.kind, dict(s.options)) for s in config.sources] == [
        ("gw", "jsonl", {"path": "/var/log/gw.jsonl", "role": "reference"})]
    assert config.alerts == {"mute": ["spike"]} and config.display == {"theme": "dark"}
    assert config.prices["gpt-4o"] == {"input": 2.5, "output": 10}


def test_no_config_anywhere_is_fine() -> None:
    assert find_config() is None
    assert load_config().path is None


def test_search_order(tmp_path: Path, isolated_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user_dir = write(isolated_config / "config.toml", "")
    assert find_config() == user_dir
    user_named = write(isolated_config / "tokentop.toml", "")
    assert find_config() == user_named
    cwd = write(Path.cwd() / "tokentop.toml", "")
    assert find_config() == cwd
    env = write(tmp_path / "env.toml", "")
    monkeypatch.setenv("TOKENTOP_CONFIG", str(env))
    assert find_config() == env
    explicit = write(tmp_path / "explicit.toml", "")
    assert find_config(explicit) == explicit


def test_missing_explicit_or_env_config_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(Path.cwd() / "tokentop.toml", "")
    with pytest.raises(ConfigError, match="no such config file") as info:
        find_config(tmp_path / "nope.toml")
    assert info.value.file == tmp_path / "nope.toml"
    monkeypatch.setenv("TOKENTOP_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError, match="TOKENTOP_CONFIG: no such config file"):
        find_config()


@pytest.mark.parametrize(("text", "key", "problem"), [
    ("[bogus]\nx = 1", "bogus", "unknown setting"),
    ("billing = 3", "billing", "must be a table"),
    ('[billing]\ntimezon = "UTC"', "billing.timezon", "unknown key"),
    ('[billing]\nperiod = "weekly"', "billing.period", "unknown period"),
    ("[billing]\nperiod = 5", "billing.period", "must be a string"),
    ('[billing]\ntimezone = "Mars/Base"', "billing.timezone", "unknown time zone"),
    ("[plans]\nfree = 5", "plans.free", "must be a table"),
    ('[plans.free]\nlimit = "lots"', "plans.free.limit", "whole number"),
    ("[plans.free]\nlimit = -1", "plans.free.limit", "whole number"),
    ("[plans.free]\nlimit = 1.5", "plans.free.limit", "whole number"),
    ("[plans.free]\nlimit = true", "plans.free.limit", "whole number"),
    ('[plans.free]\nlimit = 1\nperiod = "fortnight"', "plans.free.period", "unknown period"),
    ("[plans.free]\nlimit = 1\nperiod = 7", "plans.free.period", "must be a string"),
    ('[plans.free]\nlimit = 1\ntimezone = "Nowhere/City"', "plans.free.timezone", "unknown time zone"),
    ('[plans.free]\nlimt = 1', "plans.free.limt", "unknown key"),
    ('[plans.free]\nlimit = 1\n[users]\nplans = { bob = "gold" }', "users.plans.bob", "unknown plan 'gold'"),
    ('[users]\nplans = { bob = 3 }', "users.plans", "must map user ids to plan names"),
    ('[users]\ndefault_plan = "gold"', "users.default_plan", "unknown plan 'gold'"),
    ('[users]\ndefault_plan = ["gold"]', "users.default_plan", "must be a plan name"),
    ('[users]\nplan = {}', "users.plan", "unknown key"),
    ("[sources]\ngw = 1", "sources.gw", "must be a table"),
    ('[sources.gw]\nkind = "ftp"', "sources.gw.kind", "must be one of"),
    ('[sources.gw]\npath = "x"', "sources.gw.kind", "must be one of"),
    ('[sources.gw]\nkind = ["jsonl"]', "sources.gw.kind", "must be one of"),
    ('[sources.gw]\nkind = "jsonl"\nrole = "main"', "sources.gw.role", "'primary' or 'reference'"),
    ("alerts = 1", "alerts", "must be a table"),
    ("display = []", "display", "must be a table"),
])
def test_errors_name_file_key_and_problem(tmp_path: Path, text: str, key: str, problem: str) -> None:
    path = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    error = info.value
    assert (error.file, error.key) == (path, key)
    assert problem in error.problem
    assert str(path) in str(error) and key in str(error)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.toml", "[billing\nperiod = ")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_config(path)
    assert info.value.file == path and str(path) in str(info.value)


def test_unreadable_config_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[display]\ntheme = "\xe9"\n')
    with pytest.raises(ConfigError, match="cannot be read|not valid TOML") as info:
        load_config(path)
    assert info.value.file == path


def test_every_registered_source_kind_can_be_named_in_config(tmp_path: Path) -> None:
    from tokentop.config import SOURCE_KINDS
    from tokentop.sources.registry import KINDS

    assert SOURCE_KINDS == set(KINDS)  # a kind added to the registry is also accepted by the config
    text = '[sources.ledger]\nkind = "postgres"\ndsn = "postgresql://tokentop@127.0.0.1/app"\ntable = "usage_logs"\n'
    config = load_config(write(tmp_path / "pg.toml", text))
    assert [(s.name, s.kind) for s in config.sources] == [("ledger", "postgres")]
