"""The filter prompt: a line of text that narrows what the panels show (see view.Filter)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from tokentop.ui.screens.modal import Modal


class FilterScreen(Modal[str | None]):
    """Dismisses with the new filter text (empty clears it), or None when closed without Enter."""

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def body(self) -> ComposeResult:
        with Vertical(id="filter-body", classes="modal-body") as body:
            body.border_title = "Filter"
            yield Static("words match any field; user: provider: model: platform: source: match one; "
                         "Enter applies, an empty filter clears it", markup=False, classes="hint")
            yield Input(self.current, placeholder="e.g. alice model:gpt-4o", id="filter-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_close(self) -> None:
        self.dismiss(None)
