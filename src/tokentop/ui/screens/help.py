"""The help screen: every key, the panels, and what the markers mean."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

LEGEND = (
    ("~ est", "token counts estimated by the gateway, not reported by the provider"),
    ("∅ miss", "no token counts at all (the request was not metered)"),
    ("≠", "the reported total differs from prompt + completion"),
    ("openai?", "provider inferred from the model name, not recorded"),
    ("≈$0.0123", "cost from tokentop's price table, not from the record"),
    ("▲ CRIT / ● WARN", "alert severity"),
    ("[████····]", "a user's usage this period against their plan limit; ! means over the limit"),
    ("● live ◌ stale ✖ error", "source state in the header"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[Binding]] = [  # type: ignore[assignment]
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body", classes="modal-body") as body:
            body.border_title = "Help"
            yield Static(self._keys(), id="help-keys")
            yield Static(self._legend(), id="help-legend")

    def _keys(self) -> Table:
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        seen: set[str] = set()
        for binding in getattr(self.app, "HELP_BINDINGS", self.app.BINDINGS):
            if binding.tooltip and binding.action not in seen:
                seen.add(binding.action)
                table.add_row(Text(binding.key_display or binding.key), Text(binding.tooltip or binding.description))
        return table

    def _legend(self) -> Table:
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0), title="Markers", title_justify="left")
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for marker, meaning in LEGEND:
            table.add_row(Text(marker), Text(meaning))
        return table
