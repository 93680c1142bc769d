"""The alerts panel (active alerts) and the rows the alert history screen shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar

from textual.binding import Binding, BindingType

from tokentop.core import numbers
from tokentop.core.snapshot import AlertView
from tokentop.ui.view import ViewContext
from tokentop.ui.widgets import cells
from tokentop.ui.widgets.table import Column, KeyedTable, Row

SEVERITY_LABELS = {"critical": "▲ CRIT", "warning": "● WARN", "info": "· info"}
"""Severity is spelled out, so it reads the same with or without colour."""
SEVERITY_RANK = {"critical": 2, "warning": 1, "info": 0}


def alert_key(a: AlertView) -> str:
    return f"{a.rule}\x00{a.subject}\x00{a.since}"


def severity_cell(severity: str, view: ViewContext) -> cells.Cell:
    style = {"critical": view.palette["critical"], "warning": view.palette["warning"]}.get(severity, "")
    label = SEVERITY_LABELS.get(severity, cells.visible(severity, 8))
    return cells.Cell(label, SEVERITY_RANK.get(severity, -1), style)


class AlertsTable(KeyedTable):
    COLUMNS = (
        Column("severity", "Severity", 10),
        Column("since", "Since", 11, narrow=False),
        Column("subject", "Subject", 16, descending=False),
        Column("message", "Message", 16, descending=False, flex=True),
        Column("resolved", "Resolved", 11),
        Column("rule", "Rule", 16, narrow=False, descending=False),
    )
    DEFAULT_SORT = "severity"
    DROP_ORDER = ("rule", "since")  # the message takes the room left (the detail view shows it all)
    EMPTY = "no active alerts"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "mute", "Mute", tooltip="Mute the selected alert (this rule for this subject) until exit"),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None, history: bool = False) -> None:
        super().__init__(id=id, classes=classes)
        self.history = history
        """The history screen shows when each alert resolved; the panel does not need that column."""
        self.alerts: dict[str, AlertView] = {}
        """Row key -> the alert shown (for its detail view)."""

    def columns(self) -> list[Column]:
        if self.history:
            return super().columns()
        return [replace(c, label="For", width=6) if c.key == "since" else c
                for c in super().columns() if c.key != "resolved"]

    def show(self, alerts: Sequence[AlertView], view: ViewContext) -> None:
        self.alerts = {alert_key(a): a for a in alerts}
        self.sync([self.row(a, view) for a in alerts])

    def selected_alert(self) -> AlertView | None:
        key = self.selected_key()
        return None if key is None else self.alerts.get(key)

    def action_mute(self) -> None:
        alert = self.selected_alert()
        if alert is not None and alert.resolved_at is None:
            self.app.mute_alert(alert.rule, alert.subject)  # type: ignore[attr-defined]

    def row(self, a: AlertView, view: ViewContext) -> Row:
        # The panel says how long an alert has been firing; the history, when it started.
        since = (cells.when(a.since, view.now, view.tz) if self.history else
                 cells.Cell(numbers.duration(view.now - a.since), a.since))
        return alert_key(a), (
            severity_cell(a.severity, view),
            since,
            cells.text(a.subject, 60),
            cells.text(a.message, 200),
            cells.when(a.resolved_at, view.now, view.tz),
            cells.text(a.rule, 30),
        )
