"""Themes as data: TOML files mapped onto Textual themes plus tokentop's semantic variables.

A theme file has top-level ``name`` and ``dark``, a ``[colors]`` table of Textual's base colours, a
``[semantic]`` table of tokentop's own colours (ok, warning, critical, estimated, missing, gauge-*,
muted) and an optional ``[emphasis]`` table of text styles (``bold``, ``italic``, ``reverse`` ...) for
the same names, which is how the monochrome theme carries meaning without colour. Built-in themes live
in the top-level ``themes/`` folder (``tokentop/themes`` once installed); user themes in
``<config dir>/themes/*.toml`` may add to or replace them. See docs/ui.md.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from rich.style import Style
from textual.color import Color, ColorParseError
from textual.theme import Theme

import tokentop

SEMANTIC: Final = ("ok", "warning", "critical", "estimated", "missing", "gauge-low", "gauge-mid",
                   "gauge-high", "muted")
"""tokentop's semantic names; each becomes the CSS variables ``$tt-NAME`` and ``$tt-NAME-style``."""

BASE_COLORS: Final = ("primary", "secondary", "accent", "warning", "error", "success", "foreground",
                      "background", "surface", "panel", "boost")
TEXT_STYLES: Final = frozenset({"bold", "italic", "reverse", "underline", "dim", "strike", "none"})
DEFAULT_THEME: Final = "tokentop-dark"
PREFIX: Final = "tokentop-"
"""Theme names are prefixed so they never collide with Textual's built-in themes."""

DEFAULT_VARIABLES: Final[dict[str, str]] = {
    "tt-ok": "green", "tt-warning": "yellow", "tt-critical": "red", "tt-estimated": "cyan",
    "tt-missing": "magenta", "tt-gauge-low": "green", "tt-gauge-mid": "yellow", "tt-gauge-high": "red",
    "tt-muted": "grey",
    **{f"tt-{name}-style": "none" for name in SEMANTIC},
}
"""Fallbacks for every variable the stylesheet uses (``App.get_theme_variable_defaults``)."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}$")


class ThemeError(Exception):
    """A theme file that cannot be used, naming the file and the problem."""


@dataclass(frozen=True, slots=True)
class LoadedThemes:
    themes: dict[str, Theme]
    """Full theme name (``tokentop-dark``) -> Theme, built-ins first, then user themes."""
    problems: list[str]
    """One line per user theme that was rejected (shown as a notification)."""


def builtin_theme_dirs() -> list[Path]:
    """Where built-in themes are: inside the installed package, else the source checkout's ``themes/``."""
    package = Path(tokentop.__file__).resolve().parent
    return [d for d in (package / "themes", package.parent.parent / "themes") if d.is_dir()]


def user_theme_dir() -> Path:
    from tokentop import config

    return config.config_dir() / "themes"


def parse_theme(data: Mapping[str, Any], origin: str) -> Theme:
    """A Textual Theme from a decoded theme file; raises ThemeError naming ``origin`` and the key."""
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ThemeError(f"{origin}: name: must be a short lowercase name (letters, digits, - or _)")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeError(f"{origin}: dark: must be true or false")
    colors = _table(data, "colors", origin)
    unknown = set(colors) - set(BASE_COLORS)
    if unknown:
        raise ThemeError(f"{origin}: colors.{sorted(unknown)[0]}: unknown colour (known: {', '.join(BASE_COLORS)})")
    if "primary" not in colors:
        raise ThemeError(f"{origin}: colors.primary: required")
    base = {key: _color(value, f"colors.{key}", origin) for key, value in colors.items()}
    variables: dict[str, str] = {}
    for table_name, suffix, check in (("semantic", "", _color), ("emphasis", "-style", _text_style)):
        table = _table(data, table_name, origin)
        unknown = set(table) - set(SEMANTIC)
        if unknown:
            raise ThemeError(f"{origin}: {table_name}.{sorted(unknown)[0]}: unknown name (known: {', '.join(SEMANTIC)})")
        for key, value in table.items():
            variables[f"tt-{key}{suffix}"] = check(value, f"{table_name}.{key}", origin)
    return Theme(name=PREFIX + name, dark=dark, variables=variables, **base)


def _table(data: Mapping[str, Any], key: str, origin: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ThemeError(f"{origin}: {key}: must be a table")
    return value


def _color(value: Any, key: str, origin: str) -> str:
    if not isinstance(value, str):
        raise ThemeError(f"{origin}: {key}: must be a colour string such as \"#1e1e2e\"")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeError(f"{origin}: {key}: not a colour: {value!r}") from None
    return value


def _text_style(value: Any, key: str, origin: str) -> str:
    words = value.split() if isinstance(value, str) else []
    if not words or not set(words) <= TEXT_STYLES:
        raise ThemeError(f"{origin}: {key}: must be text styles from: {', '.join(sorted(TEXT_STYLES))}")
    return value


def load_theme_file(path: Path) -> Theme:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ThemeError(f"{path}: not valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ThemeError(f"{path}: cannot be read ({exc})") from None
    return parse_theme(data, str(path))


def load_themes(builtin_dirs: Iterable[Path] | None = None, user_dir: Path | None = None) -> LoadedThemes:
    """Built-in themes (which must load) and then user themes (which may fail, and are reported)."""
    themes: dict[str, Theme] = {}
    for directory in builtin_theme_dirs() if builtin_dirs is None else builtin_dirs:
        for path in sorted(directory.glob("*.toml")):
            theme = load_theme_file(path)
            themes.setdefault(theme.name, theme)
    problems: list[str] = []
    directory = user_theme_dir() if user_dir is None else user_dir
    if directory.is_dir():
        for path in sorted(directory.glob("*.toml")):
            try:
                theme = load_theme_file(path)
            except ThemeError as exc:
                problems.append(str(exc))
                continue
            themes[theme.name] = theme
    return LoadedThemes(themes, problems)


def short_name(theme_name: str) -> str:
    return theme_name.removeprefix(PREFIX)


def full_name(name: str) -> str:
    return name if name.startswith(PREFIX) else PREFIX + name


@dataclass(frozen=True, slots=True)
class Palette:
    """Rich styles for the semantic names, resolved from the current theme's CSS variables.

    Table cells are Rich ``Text``; they cannot refer to CSS variables, so tables restyle their cells
    from a new Palette whenever the theme changes.
    """

    styles: Mapping[str, Style]

    @classmethod
    def from_variables(cls, variables: Mapping[str, str]) -> Palette:
        styles = {}
        for name in SEMANTIC:
            color = variables.get(f"tt-{name}", DEFAULT_VARIABLES[f"tt-{name}"])
            emphasis = variables.get(f"tt-{name}-style", "none")
            styles[name] = _rich_style(color, emphasis)
        return cls(styles)

    def __getitem__(self, name: str) -> Style:
        return self.styles.get(name, Style.null())


def _rich_style(color: str, emphasis: str) -> Style:
    try:
        rgb = Color.parse(color).rich_color
    except ColorParseError:
        rgb = None
    words = {w for w in emphasis.split() if w != "none"}
    return Style(color=rgb, bold="bold" in words or None, italic="italic" in words or None,
                 reverse="reverse" in words or None, underline="underline" in words or None,
                 dim="dim" in words or None, strike="strike" in words or None)
