"""The alerts panel (active alerts), the rows the alert history screen shows, and the strip under
either that shows the selected alert whole (its message wrapped to the panel's width)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar

from rich.text import Text
from textual.binding import BindingType
from textual.widgets import Static

from tokentop.core import numbers
from tokentop.core.sanitize import visible
from tokentop.core.snapshot import AlertView
from tokentop.ui import keymap
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


class AlertStrip(Static):
    """The selected alert in full, under its table: severity, rule, subject, for how long, and the
    whole message (the table's Message column shows only what fits on one line)."""

    DEFAULT_CSS = """
    AlertStrip { height: auto; max-height: 50%; border-top: hkey $panel-lighten-2; padding: 0 1; }
    """

    _shown: Text | None = None

    def show(self, alert: AlertView | None, view: ViewContext) -> None:
        text = Text() if alert is None else alert_text(alert, view)
        if text != self._shown:
            self._shown = text
            self.update(text)
        self.display = alert is not None


def alert_text(a: AlertView, view: ViewContext) -> Text:
    """``▲ CRIT  quota · user=dana · for 2m39s`` then the message, literal (never markup)."""
    severity = severity_cell(a.severity, view)
    when = (f"resolved after {numbers.duration(a.resolved_at - a.since)}" if a.resolved_at is not None
            else f"for {numbers.duration(view.now - a.since)}")
    text = Text.assemble((severity.plain, severity.style), "  ", (visible(a.rule, 40), "bold"),
                         f" · {visible(a.subject, 120)} · {when}\n")
    text.append(visible(a.message, 2000))
    return text


class AlertsTable(KeyedTable):
    COLUMNS = (
        Column("severity", "Severity", 10),
        Column("since", "Since", 11, narrow=False),
        Column("subject", "Subject", 16, descending=False, flex=1, flex_limit=40),
        Column("message", "Message", 16, descending=False, flex=3),
        Column("resolved", "Resolved", 11),
        Column("rule", "Rule", 16, narrow=False, descending=False),
    )
    DEFAULT_SORT = "severity"
    DROP_ORDER = ("rule", "since")  # the message takes the room left; the strip below shows it whole
    EMPTY = "no active alerts"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings("alerts")  # type: ignore[assignment]

    def __init__(self, *, id: str | None = None, classes: str | None = None, history: bool = False) -> None:
        super().__init__(id=id, classes=classes)
        self.history = history
        """The history screen shows when each alert resolved; the panel does not need that column."""
        self.alerts: dict[str, AlertView] = {}
        """Row key -> the alert shown (for its detail view)."""
        self.strip: AlertStrip | None = None
        """Where the selected alert is shown whole (set by whoever lays the table out)."""
        self._view: ViewContext | None = None

    def columns(self) -> list[Column]:
        if self.history:
            return [replace(c, width=24) if c.key == "subject" else c for c in super().columns()]
        # The strip under the panel names the rule: the message gets its column's width.
        return [replace(c, label="For", width=6, justify="right") if c.key == "since" else c
                for c in super().columns() if c.key not in ("resolved", "rule")]

    def show(self, alerts: Sequence[AlertView], view: ViewContext) -> None:
        self.alerts = {alert_key(a): a for a in alerts}
        self._view = view
        self.sync([self.row(a, view) for a in alerts])
        self.show_selected()

    def show_selected(self) -> None:
        if self.strip is not None and self._view is not None:
            self.strip.show(self.selected_alert(), self._view)

    def on_keyed_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        if event.table is self:
            self.show_selected()

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
                 cells.Cell(numbers.duration(view.now - a.since), a.since, "", "right"))
        return alert_key(a), (
            severity_cell(a.severity, view),
            since,
            cells.text(a.subject, 60),
            cells.text(a.message, 200),
            cells.when(a.resolved_at, view.now, view.tz),
            cells.text(a.rule, 30),
        )
