"""The main screen: the panels. Its keys (the keymap's ``main`` scope) work only here, not under a
screen opened over it; Tab and Shift+Tab move between panels in every layout (Textual's own Tab
moves focus, which skips panels hidden in the one-panel-at-a-time layout)."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import BindingType
from textual.screen import Screen

from tokentop.ui import keymap


class MainScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings("main")  # type: ignore[assignment]
