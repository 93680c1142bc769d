"""Detail views: one request (every normalised field and the raw record), or one user / provider /
model (its counts and its recent requests). Every value is shown literally through ``visible``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from tokentop.core import numbers
from tokentop.core.counts import Counts
from tokentop.core.event import UsageEvent, event_to_dict
from tokentop.core.sanitize import visible
from tokentop.core.snapshot import AlertView
from tokentop.ui.screens.modal import Modal
from tokentop.ui.view import ViewContext
from tokentop.ui.widgets.requests import RequestsTable

RAW_LIMIT = 64 * 1024
"""Raw records longer than this are cut (with a note) so a huge line cannot stall the screen."""


def field_table(fields: Mapping[str, Any]) -> Table:
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in fields.items():
        table.add_row(Text(name), Text(field_value(name, value)))
    return table


def field_value(name: str, value: Any) -> str:
    """A detail view's value, read as the tables read it (every digit of a count, though)."""
    if value is None:
        return numbers.DASH
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if name == "cost":
            return numbers.money(value)
        if name == "accuracy":
            return numbers.share(value)
        if name == "latency_ms":
            return numbers.milliseconds(value)
        return numbers.count(value, exact=True)
    return visible(repr(value))


def raw_text(raw: bytes | None) -> Text:
    """The record as read: decoded leniently, every control character made visible."""
    if raw is None:
        return Text("(the source kept no raw record)", style="italic")
    cut = len(raw) > RAW_LIMIT
    shown = visible(raw[:RAW_LIMIT].decode("utf-8", errors="replace"))
    text = Text(shown, overflow="fold")
    if cut:
        text.append(f"\n… {len(raw) - RAW_LIMIT:,} more bytes not shown", style="italic")
    return text


class DetailScreen(Modal[None]):
    """Esc or q closes it (the keymap's ``close``)."""


class RequestDetailScreen(DetailScreen):
    """Every normalised field of one request, then the raw bytes it came from."""

    def __init__(self, event: UsageEvent) -> None:
        super().__init__()
        self.event = event

    def body(self) -> ComposeResult:
        with VerticalScroll(id="detail-body", classes="modal-body") as body:
            body.border_title = "Request"
            yield Static(field_table(event_to_dict(self.event)), id="detail-fields")
            yield Static("Raw record", classes="section", markup=False)
            yield Static(raw_text(self.event.raw), id="detail-raw")


class AlertDetailScreen(DetailScreen):
    """One alert in full: rule, severity, subject, the whole message, when it started and ended."""

    def __init__(self, alert: AlertView) -> None:
        super().__init__()
        self.alert = alert

    def body(self) -> ComposeResult:
        with VerticalScroll(id="detail-body", classes="modal-body") as body:
            body.border_title = "Alert"
            yield Static(field_table(self.alert.to_dict()), id="detail-fields")


class GroupDetailScreen(DetailScreen):
    """One user, provider or model: its counts in the window and its requests among the recent ones."""

    def __init__(self, dimension: str, name: str, counts: Counts | None, recent: Sequence[UsageEvent],
                 view: ViewContext) -> None:
        super().__init__()
        self.dimension, self.subject, self.counts = dimension, name, counts
        self.recent = [e for e in recent if self._belongs(e)]
        self.view = view

    def _belongs(self, e: UsageEvent) -> bool:
        if self.dimension == "user":
            return (e.user or "unknown") == self.subject
        if self.dimension == "model":
            return f"{e.provider}/{e.model}" == self.subject
        return e.provider == self.subject

    def body(self) -> ComposeResult:
        with Vertical(id="group-body", classes="modal-body") as body:
            body.border_title = Content(f"{self.dimension}: {visible(self.subject, 60)}")
            counts = {} if self.counts is None else self.counts.to_dict()
            counts.pop("first_ts", None)
            yield Static(field_table(counts) if counts else Text("no requests in this window"), id="group-counts")
            yield Static(f"Recent requests ({len(self.recent)})", classes="section", markup=False)
            yield RequestsTable(id="group-requests")

    def on_mount(self) -> None:
        self.query_one(RequestsTable).show(self.recent, self.view)
