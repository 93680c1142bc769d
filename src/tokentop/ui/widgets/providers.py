"""The providers / models panel: volume, share, how much of it the provider actually reported, cost,
and a sparkline of tokens per minute."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from tokentop.core.counts import Counts
from tokentop.ui.view import ViewContext, by_provider
from tokentop.ui.widgets import cells
from tokentop.ui.widgets.sparkline import sparkline
from tokentop.ui.widgets.table import Column, KeyedTable, Row

SPARK_WIDTH = 30
"""One block per minute of the snapshot's 30-minute series."""
DIMENSIONS = ("provider", "model")


class ProvidersTable(KeyedTable):
    COLUMNS = (
        Column("name", "Provider", 20, descending=False),
        Column("requests", "Reqs", 7, justify="right"),
        Column("tokens", "Tokens", 9, justify="right"),
        Column("share", "Share", 5, justify="right"),
        Column("accuracy", "Actual", 6, justify="right"),
        Column("estimated", "~ est", 6, justify="right"),
        Column("missing", "∅ miss", 6, justify="right"),
        Column("mismatched", "≠ tot", 5, narrow=False, justify="right"),
        Column("cost", "Cost", 9, narrow=False, justify="right"),
        Column("trend", "Tokens/min, last 30m", SPARK_WIDTH, narrow=False),
    )
    DEFAULT_SORT = "tokens"
    EMPTY = "no requests in this window"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.dimension = "provider"

    def toggle_dimension(self) -> None:
        self.dimension = "model" if self.dimension == "provider" else "provider"
        self.reset()
        self.sync([])

    def columns(self) -> list[Column]:
        columns = super().columns()
        if self.dimension == "model":
            columns[0] = replace(columns[0], label="Provider/model")
        return columns

    def show(self, groups: Mapping[str, Mapping[str, Counts]], per_minute: Mapping[str, Mapping[str, Sequence[int]]],
             view: ViewContext) -> None:
        """From a snapshot's groups and series (by ``provider`` and by ``model``), narrowed by the
        filter's ``provider:`` and ``model:`` terms in either view."""
        if self.dimension == "model":
            shown: Mapping[str, Counts] = {name: c for name, c in groups.get("model", {}).items()
                                           if view.filter.matches_model_key(name)}
            series: Mapping[str, Sequence[int]] = per_minute.get("model", {})
        elif view.filter.terms("model"):
            shown, series = by_provider(groups.get("model", {}), per_minute.get("model", {}), view.filter)
        else:
            shown = {name: c for name, c in groups.get("provider", {}).items()
                     if view.filter.matches_name("provider", name)}
            series = per_minute.get("provider", {})
        total = sum(c.total_tokens for c in shown.values())
        self.sync([self.row(name, counts, total, series.get(name, ()), view) for name, counts in shown.items()])

    @staticmethod
    def row(name: str, c: Counts, total: int, series: Sequence[int], view: ViewContext) -> Row:
        palette = view.palette
        share = 100.0 * c.total_tokens / total if total else None
        accuracy = None if c.accuracy is None else 100.0 * c.accuracy
        accuracy_style = "" if accuracy is None or accuracy >= 99.5 else palette["warning"]
        return name, (
            cells.text(name, 60),
            cells.number(c.requests),
            cells.number(c.total_tokens),
            cells.percent(share),
            cells.percent(accuracy, accuracy_style),
            cells.number(c.estimated, palette["estimated"] if c.estimated else ""),
            cells.number(c.missing, palette["missing"] if c.missing else ""),
            cells.number(c.mismatched, palette["warning"] if c.mismatched else ""),
            cells.money(c.cost if c.requests else None),
            cells.Cell(sparkline(series, SPARK_WIDTH), sum(series[-5:])),
        )
