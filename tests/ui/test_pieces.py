"""Pure pieces of the UI: sparkline, gauge, cells, filter, theme files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokentop.ui import theming
from tokentop.ui.theming import ThemeError, load_themes, parse_theme
from tokentop.ui.view import Filter
from tokentop.ui.widgets import cells
from tokentop.ui.widgets.sparkline import BLOCKS, sparkline
from tokentop.ui.widgets.users import gauge

from .support import event


def test_sparkline_scales_to_the_peak_and_pads_on_the_left():
    assert sparkline([0, 1, 2, 4, 8], 5) == " ▂▃▅█"
    assert sparkline([3], 4) == "   █"
    assert sparkline([], 3) == "   "
    assert sparkline([0, 0], 2) == "  "
    assert sparkline([1, 2, 3], 0) == ""


def test_sparkline_keeps_the_newest_values_and_never_hides_a_trickle():
    line = sparkline([1000, 0, 1, 1000], 3)
    assert line == f" {BLOCKS[0]}{BLOCKS[-1]}"


def test_gauge_shows_share_and_marks_overrun():
    assert gauge(None) == "no limit"
    assert gauge(0, 10) == "[··········]"
    assert gauge(50, 10) == "[█████·····]"
    assert gauge(100, 10) == "[█████████!]"
    assert gauge(250, 10) == "[█████████!]"


def test_text_cells_are_literal_and_sanitised():
    cell = cells.text("[bold]x[/] \x1b]0;pwn\x07 \u202e")
    assert cell.plain == "[bold]x[/] \\x1b]0;pwn\\x07 \\u202e"
    assert not cell.spans
    assert cells.text(None).plain == cells.DASH


def test_filter_words_match_any_field_and_field_terms_one():
    alice = event(1, ts=0, user="Alice", provider="openai", model="gpt-4o", platform="web")
    bob = event(2, ts=0, user="bob", provider="anthropic", model="claude-sonnet-4")
    f = Filter.parse("alice")
    assert f.matches_event(alice) and not f.matches_event(bob)
    f = Filter.parse("model:claude")
    assert f.matches_event(bob) and not f.matches_event(alice)
    f = Filter.parse("openai platform:web")
    assert f.matches_event(alice) and not f.matches_event(bob)
    assert not Filter.parse("  ")
    assert Filter.parse("user:bo").matches_name("user", "bob")
    assert Filter.parse("model:x").matches_name("user", "bob")  # other fields' terms do not apply


def test_every_builtin_theme_loads_from_the_source_checkout(tmp_path):
    loaded = load_themes(user_dir=tmp_path)
    assert {"tokentop-dark", "tokentop-light", "tokentop-high-contrast", "tokentop-monochrome"} <= set(loaded.themes)
    assert loaded.problems == []
    for theme in loaded.themes.values():
        assert set(theme.variables) <= set(theming.DEFAULT_VARIABLES)


def test_builtin_themes_are_found_inside_an_installed_package(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / "tokentop"
    (package / "themes").mkdir(parents=True)
    for path in (Path(__file__).parents[2] / "themes").glob("*.toml"):
        (package / "themes" / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(theming.tokentop, "__file__", str(package / "__init__.py"))
    assert theming.builtin_theme_dirs() == [package / "themes"]


def test_monochrome_means_nothing_by_colour_alone(tmp_path):
    mono = load_themes(user_dir=tmp_path).themes["tokentop-monochrome"]
    palette = theming.Palette.from_variables({**theming.DEFAULT_VARIABLES, **mono.variables})
    for name in ("critical", "missing", "estimated", "warning", "gauge-high"):
        style = palette[name]
        assert style.bold or style.italic or style.reverse or style.underline, name


@pytest.mark.parametrize(("data", "problem"), [
    ({}, "name:"),
    ({"name": "x"}, "colors.primary: required"),
    ({"name": "x", "colors": {"primary": "nope"}}, "not a colour"),
    ({"name": "x", "colors": {"primary": "#fff", "sparkle": "#fff"}}, "colors.sparkle: unknown"),
    ({"name": "x", "colors": {"primary": "#fff"}, "semantic": {"ok": 3}}, "semantic.ok"),
    ({"name": "x", "colors": {"primary": "#fff"}, "emphasis": {"ok": "blink"}}, "emphasis.ok"),
    ({"name": "x", "colors": {"primary": "#fff"}, "semantic": {"loud": "#fff"}}, "semantic.loud: unknown"),
    ({"name": "x", "dark": "yes", "colors": {"primary": "#fff"}}, "dark:"),
])
def test_bad_theme_data_names_the_key(data, problem):
    with pytest.raises(ThemeError, match=problem.replace(".", r"\.")):
        parse_theme(data, "t.toml")


def test_a_user_theme_replaces_a_builtin_of_the_same_name(tmp_path):
    (tmp_path / "dark.toml").write_text('name = "dark"\n[colors]\nprimary = "#010203"\n[semantic]\nok = "#00ff00"\n')
    loaded = load_themes(user_dir=tmp_path)
    assert loaded.themes["tokentop-dark"].primary == "#010203"
    assert loaded.themes["tokentop-dark"].variables["tt-ok"] == "#00ff00"


def test_inferred_provider_and_computed_cost_are_marked_not_only_coloured():
    from tokentop.ui.view import ViewContext
    from tokentop.ui.widgets.requests import RequestsTable

    e = event(1, ts=0, provider="openai", provider_inferred=True, cost=0.5, cost_computed=True,
              token_source="estimated")
    _, row = RequestsTable.row("k", e, ViewContext(now=0, tz=None))
    shown = {column.key: cell.plain for column, cell in zip(RequestsTable.COLUMNS, row)}
    assert shown["provider"] == "openai?" and shown["cost"] == "≈$0.5000" and shown["token_source"] == "~ est"


def test_sources_line_mentions_the_requests_another_source_also_delivered():
    from tokentop.ui.widgets.header import HeaderState, overlap_note, sources_line

    palette = theming.Palette.from_variables(dict(theming.DEFAULT_VARIABLES))
    gw = {"name": "gateway.jsonl", "status": "ok", "skipped": 0,
          "overlap": {"requests": 40, "shared": {"usage.db": 30}, "released_early": 0}}
    db = {"name": "usage.db", "status": "ok", "skipped": 0, "overlap": {"requests": 5, "shared": {}, "released_early": 0}}
    assert overlap_note(gw) == "shares 30 with usage.db" and overlap_note(db) == "" and overlap_note({}) == ""
    state = HeaderState("tokentop", "5m", 1.0, False, "", 0.0, None, [gw, db], {}, {}, palette)
    assert "gateway.jsonl ● live 0/s shares 30 with usage.db │ usage.db ● live 0/s" in sources_line(state).plain
