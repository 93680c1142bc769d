"""The alert history: what is firing now, and what fired and resolved since the app started."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from tokentop.core.snapshot import AlertView
from tokentop.ui.view import ViewContext
from tokentop.ui.widgets.alerts import AlertsTable


class AlertHistoryScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[Binding]] = [Binding("escape,q,a", "dismiss", "Close")]  # type: ignore[assignment]

    def __init__(self, active: Sequence[AlertView], resolved: Sequence[AlertView], view: ViewContext) -> None:
        super().__init__()
        self.active, self.resolved, self.view = active, resolved, view

    def compose(self) -> ComposeResult:
        with Vertical(id="history-body", classes="modal-body") as body:
            body.border_title = "Alert history"
            yield Static(f"Active ({len(self.active)})", classes="section", markup=False)
            yield AlertsTable(id="history-active", history=True)
            yield Static(f"Resolved ({len(self.resolved)})", classes="section", markup=False)
            yield AlertsTable(id="history-resolved", history=True)

    def on_mount(self) -> None:
        self.query_one("#history-active", AlertsTable).show(self.active, self.view)
        resolved = self.query_one("#history-resolved", AlertsTable)
        resolved.EMPTY = "nothing resolved since tokentop started"
        resolved.sort_key = "resolved"
        resolved.reset()
        resolved.show(self.resolved, self.view)
