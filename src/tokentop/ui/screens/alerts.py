"""The alert history: what is firing now, and what fired and resolved since the app started; the
selected alert (of whichever table has the cursor) is shown whole underneath."""

from __future__ import annotations

from collections.abc import Sequence
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tokentop.core.snapshot import AlertView
from tokentop.ui.screens.modal import Modal
from tokentop.ui.view import ViewContext
from tokentop.ui.widgets.alerts import AlertsTable, AlertStrip


class AlertHistoryScreen(Modal[None]):
    def __init__(self, active: Sequence[AlertView], resolved: Sequence[AlertView], view: ViewContext) -> None:
        super().__init__()
        self.active, self.resolved, self.view = active, resolved, view

    def body(self) -> ComposeResult:
        with Vertical(id="history-body", classes="modal-body") as body:
            body.border_title = "Alert history"
            yield Static(f"Active ({len(self.active)})", classes="section", markup=False)
            yield AlertsTable(id="history-active", history=True)
            yield Static(f"Resolved ({len(self.resolved)})", classes="section", markup=False)
            yield AlertsTable(id="history-resolved", history=True)
            yield AlertStrip(id="history-strip")

    def on_mount(self) -> None:
        active = self.query_one("#history-active", AlertsTable)
        resolved = self.query_one("#history-resolved", AlertsTable)
        resolved.EMPTY = "nothing resolved since tokentop started"
        resolved.sort_key = "resolved"
        resolved.reset()
        for table, alerts in ((active, self.active), (resolved, self.resolved)):
            table.show(alerts, self.view)
        (active if self.active or not self.resolved else resolved).focus()

    def on_descendant_focus(self, event: object) -> None:
        """The strip follows the table that has the cursor."""
        strip = self.query_one(AlertStrip)
        for table in self.query(AlertsTable):
            table.strip = strip if table.has_focus else None
            if table.has_focus:
                table.show_selected()
