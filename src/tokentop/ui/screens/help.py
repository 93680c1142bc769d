"""The help screen: every key of the keymap (with ``[keys]`` remaps applied), by where it works,
then the panels' markers."""

from __future__ import annotations

from collections.abc import Mapping

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from tokentop.ui import keymap
from tokentop.ui.screens.modal import Modal

LEGEND = (
    ("~ est", "token counts estimated by the gateway, not reported by the provider"),
    ("∅ miss", "no token counts at all (the request was not metered)"),
    ("≠", "the reported total differs from prompt + completion"),
    ("openai?", "provider inferred from the model name, not recorded"),
    ("≈$0.0123", "cost from tokentop's price table, not from the record"),
    ("▲ CRIT / ● WARN", "alert severity"),
    ("[████····]", "a user's usage this period against their plan limit; ! means over the limit"),
    ("● live ◌ stale ✖ error", "source state in the header"),
    ("▼ / ▲", "the column a table is sorted by, largest or smallest first"),
)


def key_lines(app: App[object], overrides: Mapping[str, str]) -> list[tuple[str, list[tuple[str, str]]]]:
    """(section title, [(keys as shown, what they do)]) for every scope of the keymap."""
    effective = keymap.effective_keys(overrides)
    sections = []
    for scope in keymap.SCOPES:
        rows = [(", ".join(app.get_key_display(Binding(key, "")) for key in effective[k.id]), k.help)
                for k in keymap.KEYS if k.scope == scope]
        sections.append((keymap.SCOPE_TITLES[scope], rows))
    return sections


class HelpScreen(Modal[None]):
    def body(self) -> ComposeResult:
        with VerticalScroll(id="help-body", classes="modal-body") as body:
            body.border_title = "Help"
            overrides = getattr(self.app, "key_overrides", {})
            for title, rows in key_lines(self.app, overrides):
                yield Static(self._table(title, rows), classes="help-keys")
            yield Static(self._table("Markers", list(LEGEND)), id="help-legend")

    @staticmethod
    def _table(title: str, rows: list[tuple[str, str]]) -> Table:
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0), title=title, title_justify="left",
                      title_style="bold", min_width=40)
        table.add_column(style="bold", no_wrap=True, min_width=12)
        table.add_column()
        for keys, meaning in rows:
            table.add_row(Text(keys), Text(meaning))
        return table
