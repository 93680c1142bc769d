"""The base of every screen opened over the main one: its keys come from the keymap (``close``),
and its own footer shows them (the main screen's footer, dimmed behind it, is not what works here)."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.screen import ModalScreen

from tokentop.ui import keymap
from tokentop.ui.widgets.footer import KeyFooter

Result = TypeVar("Result")


class Modal(ModalScreen[Result]):
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings("modal")  # type: ignore[assignment]

    def compose(self) -> ComposeResult:
        yield from self.body()
        yield KeyFooter()

    def body(self) -> ComposeResult:
        """The screen's own widgets (the footer comes after them)."""
        yield from ()

    def action_close(self) -> None:
        self.dismiss()
