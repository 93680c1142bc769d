"""Every key of the live monitor, in one table: the bindings, the footer, the help screen and the
command palette are all generated from it, so they cannot disagree, and ``[keys]`` in config remaps
any of them by id (Textual's keymap: ``App.set_keymap``).

A key's *scope* says which part of the app binds it: ``app`` (everywhere, even over a modal screen),
``main`` (the main screen), ``table`` (any panel's table), ``requests``/``alerts`` (one table) and
``modal`` (help, detail, filter and history screens).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from textual.binding import Binding

SCOPES: Final = ("main", "table", "requests", "alerts", "modal", "app")
SCOPE_TITLES: Final = {"main": "Main screen", "table": "In a panel's table", "requests": "Recent requests",
                       "alerts": "Alerts (panel and history)", "modal": "Help, detail, filter and history screens",
                       "app": "Anywhere"}
TOGETHER: Final = {frozenset({"main", "table", "requests", "app"}), frozenset({"main", "table", "alerts", "app"}),
                   frozenset({"modal", "table", "alerts", "app"}), frozenset({"modal", "table", "requests", "app"})}
"""Scopes whose keys are live at the same time (a key may mean one thing in each such set)."""


@dataclass(frozen=True, slots=True)
class Key:
    id: str
    """The binding id: the name to use in ``[keys]``."""
    keys: str
    """Default keys, Textual names, comma-separated (``question_mark``, ``ctrl+p``, ``I``)."""
    action: str
    label: str
    """Short, for the footer and the palette."""
    help: str
    """A sentence, for the help screen and the palette."""
    scope: str
    footer: int = 0
    """Place in the footer (1 first, kept longest when the terminal is narrow); 0: not shown there."""
    palette: bool = True
    """Offered in the command palette (not cursor keys, nor keys that need a selected row)."""
    priority: bool = False


KEYS: Final[tuple[Key, ...]] = (
    Key("help", "question_mark,f1", "app.help", "Help", "Every key, the panels and what the markers mean", "main", 1),
    Key("filter", "slash", "app.filter", "Filter", "Filter by user, provider, model, platform or source", "main", 2),
    Key("pause", "space,p", "app.pause", "Pause", "Freeze the panels (input continues, the header stays live)",
        "main", 3),
    Key("next-panel", "tab", "app.next_panel", "Panel", "Next panel (in every layout)", "main", 4, palette=False),
    Key("previous-panel", "shift+tab", "app.previous_panel", "Previous panel", "Previous panel", "main",
        palette=False),
    Key("sort", "s,greater_than_sign", "next_sort", "Sort", "Sort by the next column", "table", 5),
    Key("sort-back", "less_than_sign", "previous_sort", "Sort back", "Sort by the previous column", "table"),
    Key("sort-reverse", "I", "reverse_sort", "Reverse", "Reverse the sort order (as htop's I)", "table", 6),
    Key("alert-history", "a", "app.alert_history", "Alerts", "Alert history: active and resolved alerts",
        "main", 7),
    Key("window", "w", "app.cycle_window", "Window", "Cycle the window: 5m, 1h, 24h, billing period", "main", 8),
    Key("detail", "d", "app.detail", "Detail", "Details of the selected row (Enter does the same)", "main", 9),
    Key("models", "m", "app.toggle_models", "Prov/model", "Providers panel: by provider or by provider/model",
        "main", 10),
    Key("follow", "f", "follow", "Follow", "Recent requests: back to the newest, follow new ones",
        "requests", 11),
    Key("mute", "x", "mute", "Mute", "Mute the selected alert (its rule, for its subject) until tokentop exits",
        "alerts", 11),
    Key("faster", "plus", "app.faster", "+Hz", "Refresh faster (up to 4 Hz)", "main", 12),
    Key("slower", "minus", "app.slower", "-Hz", "Refresh slower (down to 1 Hz)", "main", 13),
    Key("theme", "t", "app.cycle_theme", "Theme", "Cycle the colour theme", "main", 14),
    Key("quit", "q", "app.quit", "Quit", "Quit tokentop", "main", 15),
    *(Key(f"panel-{n}", str(n), f"app.panel({n - 1})", title, f"Go to the {title.lower()} panel", "main")
      for n, title in enumerate(("Recent requests", "Users", "Providers", "Alerts"), start=1)),
    Key("select", "enter", "select", "Open", "Open the selected row in full", "table", palette=False),
    Key("up", "up,k", "cursor(-1)", "Up", "Move the cursor up", "table", palette=False),
    Key("down", "down,j", "cursor(1)", "Down", "Move the cursor down", "table", palette=False),
    Key("page-up", "pageup", "page(-1)", "Page up", "One page up", "table", palette=False),
    Key("page-down", "pagedown", "page(1)", "Page down", "One page down", "table", palette=False),
    Key("first", "home", "first", "First", "First row (in Recent requests: the newest, following again)", "table",
        palette=False),
    Key("last", "end", "last", "Last", "Last row", "table", palette=False),
    Key("close", "escape,q", "close", "Close", "Close this screen (q quits only from the main screen)", "modal", 1,
        palette=False),
    Key("next-table", "tab", "app.focus_next", "Next", "Next table (alert history)", "modal", 2, palette=False),
    Key("previous-table", "shift+tab", "app.focus_previous", "Previous", "Previous table (alert history)", "modal",
        palette=False),
    Key("palette", "ctrl+p", "app.command_palette", "Commands", "The command palette: every action, by name",
        "app", 20, palette=False, priority=True),
    Key("quit-anywhere", "ctrl+q", "app.quit", "Quit", "Quit from any screen", "app", palette=False, priority=True),
    Key("interrupt", "ctrl+c", "app.quit", "Quit", "Quit, as in top (with text selected by mouse: copy it)", "app",
        palette=False),
)
BY_ID: Final = {key.id: key for key in KEYS}


def bindings(scope: str, only: Iterable[str] | None = None) -> list[Binding]:
    """The Textual bindings of ``scope`` (``only`` these ids, when given), each with its id so
    ``[keys]`` can remap it."""
    from textual.binding import Binding

    wanted = None if only is None else set(only)
    return [Binding(k.keys, k.action, k.label, show=k.footer > 0, id=k.id, tooltip=k.help, priority=k.priority)
            for k in KEYS if k.scope == scope and (wanted is None or k.id in wanted)]


def effective_keys(overrides: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Binding id -> its keys once ``overrides`` (a checked ``[keys]`` table) are applied."""
    return {k.id: tuple(_split(overrides.get(k.id, k.keys))) for k in KEYS}


def check_overrides(table: Mapping[str, Any]) -> dict[str, str]:
    """A ``[keys]`` table checked: binding id -> keys. Raises ``ValueError("id: problem")`` for an
    unknown id, a value that is not a string of keys, or a key another binding live at the same
    time already uses."""
    from textual.keys import _normalize_key_list

    checked: dict[str, str] = {}
    for binding_id, value in table.items():
        if binding_id not in BY_ID:
            raise ValueError(f"{binding_id}: unknown key binding (known: {', '.join(BY_ID)})")
        keys = _split(value) if isinstance(value, str) else []
        if not keys or any(" " in key for key in keys):
            raise ValueError(f'{binding_id}: must be a string of comma-separated keys, e.g. "slash,f3"')
        checked[binding_id] = _normalize_key_list(",".join(keys))
    keys_now = effective_keys(checked)
    for binding_id in checked:
        scope = BY_ID[binding_id].scope
        for other in KEYS:
            if other.id == binding_id or not any({scope, other.scope} <= group for group in TOGETHER):
                continue
            shared = set(keys_now[binding_id]) & set(keys_now[other.id])
            if shared:
                raise ValueError(f"{binding_id}: {sorted(shared)[0]!r} is already the key of {other.id!r}")
    return checked


def _split(keys: str) -> list[str]:
    return [key.strip() for key in keys.split(",") if key.strip()]
