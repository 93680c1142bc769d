"""One keymap: every binding the app carries is in it, the help screen lists all of them with their
keys (remapped ones included), the footer shows whole entries only, and [keys] remaps by id."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from textual.binding import Binding
from textual.dom import DOMNode

from tokentop.config import Config, ConfigError
from tokentop.ui import keymap
from tokentop.ui.screens.alerts import AlertHistoryScreen
from tokentop.ui.screens.detail import RequestDetailScreen
from tokentop.ui.screens.filter import FilterScreen
from tokentop.ui.screens.help import HelpScreen
from tokentop.ui.widgets.footer import KeyFooter

from .conftest import wait_for

TEXTUAL_ONLY = {"screen.copy_text"}
"""Textual's own: copy the text selected with the mouse (Ctrl+C; the help screen says so)."""


def rendered(renderable) -> str:  # noqa: ANN001
    console = Console(width=200, color_system=None)
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()


def bindings_on(node: DOMNode) -> list[Binding]:
    """Every binding of tokentop's own nodes (the app, its screens, its tables) in ``node``'s tree,
    as Textual resolves them, inherited ones included. (Textual's widgets inside them keep their own
    keys: the filter's text field edits text, a scrolling view scrolls.)"""
    nodes = [n for n in (node, *node.walk_children(with_self=False)) if type(n).__module__.startswith("tokentop")]
    return [binding for n in nodes for _, binding in n._bindings]


async def test_every_binding_the_app_carries_is_in_the_keymap(make_app):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.requests.row_count > 0)
        seen = bindings_on(app) + bindings_on(app.screen)
        for screen in (HelpScreen(), FilterScreen(""), AlertHistoryScreen((), (), app.view(0.0)),
                       RequestDetailScreen(app.requests.selected_event())):
            await app.push_screen(screen)
            await pilot.pause()
            seen += bindings_on(app.screen)
            app.pop_screen()
            await pilot.pause()
    ours = [b for b in seen if b.action not in TEXTUAL_ONLY]
    strays = {(b.key, b.action) for b in ours if b.id not in keymap.BY_ID}
    assert not strays  # a key bound outside the keymap would be missing from help, footer and palette
    assert {b.id for b in ours} == set(keymap.BY_ID)  # and every keymap entry is bound somewhere


async def test_the_help_screen_lists_every_binding_with_its_keys(make_app):
    app = make_app(config=Config(keys={"filter": "slash,f3", "quit": "Q"}))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = "".join(rendered(s.content) for s in app.screen.query(".help-keys"))
    lines = text.splitlines()
    for spec in keymap.KEYS:
        line = next((ln for ln in lines if spec.help in ln), None)
        assert line is not None, f"{spec.id} is not on the help screen"
        keys = keymap.effective_keys(app.key_overrides)[spec.id]
        assert line.split(spec.help)[0].strip() == ", ".join(app.get_key_display(Binding(k, "")) for k in keys)
    assert any(ln.strip().startswith("/, f3") and "Filter by user" in ln for ln in lines)
    assert any(ln.strip().startswith("Q ") and "Quit tokentop" in ln for ln in lines)
    for title in keymap.SCOPE_TITLES.values():
        assert title in text


async def test_remapped_keys_work_and_the_old_ones_do_not(make_app):
    app = make_app(config=Config(keys={"filter": "f3", "pause": "z"}))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("slash", "space")
        await pilot.pause()
        assert not isinstance(app.screen, FilterScreen) and not app.paused
        await pilot.press("z")
        assert app.paused
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, FilterScreen))
        footer = app.screen.query_one(KeyFooter)
        assert ("esc", "Close") in footer.entries()


@pytest.mark.parametrize("table, problem", [
    ({"nope": "n"}, "keys.nope: unknown key binding"),
    ({"filter": 3}, "keys.filter: must be a string"),
    ({"filter": "x"}, "keys.filter: 'x' is already the key of 'mute'"),
    ({"quit": "slash"}, "keys.quit: 'slash' is already the key of 'filter'"),
])
def test_bad_key_settings_are_config_errors(make_app, table, problem):
    with pytest.raises(ConfigError, match=problem):
        make_app(config=Config(keys=table))


async def test_the_footer_shows_whole_entries_in_keymap_order(make_app):
    wide_entries: list[tuple[str, str]] = []
    for size in ((200, 60), (80, 24)):
        app = make_app()
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: app.requests.row_count > 0)
            footer = app.screen.query_one(KeyFooter)
            entries = footer.entries()
            shown = str(footer.render())
        if size == (200, 60):
            wide_entries = entries
            # every footer key that works with Recent requests focused, all of them on a wide screen
            expected = [s for s in keymap.KEYS if s.footer and s.scope in ("main", "table", "requests", "app")]
            assert {label for _, label in entries} == {s.label for s in expected}
            assert all(f" {keys} {label} " in shown for keys, label in entries)
        else:
            # at 80 columns: the first entries that fit, whole (never "w Wind")
            fitting = [e for e in wide_entries if f" {e[0]} {e[1]} " in shown]
            assert fitting == wide_entries[:len(fitting)] and len(fitting) >= 5
            assert shown.rstrip().endswith(fitting[-1][1])
            assert len(shown) <= 80


async def test_screens_over_the_panels_show_their_own_keys(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        labels = [label for _, label in app.screen.query_one(KeyFooter).entries()]
        assert "Close" in labels and "Quit" not in labels  # q closes help; it does not quit
        await pilot.press("q")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen))
        assert app.is_running


def test_the_docs_list_every_binding_as_the_keymap_defines_it():
    """docs/ui.md's key tables are the keymap's, row for row (keys as the help screen shows them)."""
    from textual.app import App

    docs = (Path(__file__).parents[2] / "docs" / "ui.md").read_text()
    app = App()
    for spec in keymap.KEYS:
        keys = ", ".join(f"`{app.get_key_display(Binding(k, ''))}`" for k in keymap.effective_keys({})[spec.id])
        assert f"| `{spec.id}` | {keys} | {spec.help} |" in docs, spec.id
