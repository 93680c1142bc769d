"""The filter prompt: a line of text that narrows what the panels show (see view.Filter)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class FilterScreen(ModalScreen[str | None]):
    """Dismisses with the new filter text (empty clears it), or None when cancelled."""

    BINDINGS: ClassVar[list[Binding]] = [Binding("escape", "cancel", "Cancel")]  # type: ignore[assignment]

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="filter-body", classes="modal-body") as body:
            body.border_title = "Filter"
            yield Static("words match any field; user: provider: model: platform: source: match one",
                         markup=False, classes="hint")
            yield Input(self.current, placeholder="e.g. alice model:gpt-4o", id="filter-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
