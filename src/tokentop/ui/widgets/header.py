"""The status lines: window, refresh rate, paused, filter, clock; then each source's health."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from rich.text import Text
from textual.widgets import Static

from tokentop.core.numbers import count, duration, rate
from tokentop.core.sanitize import visible
from tokentop.ui.theming import Palette

STATE_MARKERS = {"ok": "● live", "stale": "◌ stale", "error": "✖ error", "starting": "… starting",
                 "done": "■ done", "waiting": "◌"}


@dataclass(frozen=True, slots=True)
class HeaderState:
    title: str
    window: str
    refresh_hz: float
    paused: bool
    filter_text: str
    now: float
    tz: tzinfo | None
    sources: Sequence[Mapping[str, Any]]
    """``SourceStatus.to_dict()`` of each source."""
    rates: Mapping[str, float]
    """Events per second by source name."""
    last_read: Mapping[str, float | None]
    palette: Palette
    history: tuple[int, int, str] | None = None
    """(done, total, unit) of the history still being read (``Snapshot.history``), shown after
    ``▶ live`` as a progress bar; None once everything is read."""


def status_line(s: HeaderState) -> Text:
    moment = datetime.fromtimestamp(s.now, s.tz)
    parts: list[Text | str | tuple[str, Any]] = [
        (f" {visible(s.title, 30)} ", "bold reverse"), "  window ", (s.window, "bold"),
        f"  {s.refresh_hz:g} Hz  ",
        ("⏸ PAUSED", "bold reverse") if s.paused else ("▶ live", str(s.palette["ok"])),
    ]
    if s.history is not None:
        parts += ["  ", (reading_history(*s.history), str(s.palette["warning"]))]
    if s.filter_text:
        parts += ["  filter: ", (visible(s.filter_text, 40), "bold")]
    line = Text.assemble(*parts, no_wrap=True, overflow="ellipsis")
    stamp = moment.strftime("%Y-%m-%d %H:%M:%S ") + (moment.tzname() or "")
    line.append("  " + stamp)
    return line


BAR_WIDTH = 10


def reading_history(done: int, total: int, unit: str) -> str:
    """``reading history ▕████▌     ▏ 45% 1.2/2.7 GB``: how much of the history is read so far."""
    share = 1.0 if total <= 0 else min(1.0, done / total)
    eighths = round(share * BAR_WIDTH * 8)
    bar = "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]
    amount = f" {_amount(done, unit)}/{_amount(total, unit)}" if unit else ""
    return f"reading history ▕{bar.ljust(BAR_WIDTH)}▏ {share:.0%}{amount}"


def _amount(value: int, unit: str) -> str:
    if unit != "bytes":
        return f"{count(value)} {unit}"
    for size, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if value >= size:
            return f"{value / size:.1f} {name}"
    return f"{value} B"


def sources_line(s: HeaderState) -> Text:
    if not s.sources:
        return Text(" no sources", style=str(s.palette["muted"]))
    line = Text(no_wrap=True, overflow="ellipsis")
    for index, status in enumerate(s.sources):
        if index:
            line.append(" │ ", style=str(s.palette["muted"]))
        name = str(status.get("name", "?"))
        state = str(status.get("status", "starting"))
        style = {"ok": s.palette["ok"], "stale": s.palette["warning"], "waiting": s.palette["warning"],
                 "error": s.palette["critical"]}.get(state, s.palette["muted"])
        line.append(visible(name, 30) + " ")
        marker = STATE_MARKERS.get(state, visible(state, 12))
        last_read = s.last_read.get(name)
        if state == "stale" and last_read is not None:
            marker += " " + duration(s.now - last_read)
        line.append(marker, style=str(style))
        if state == "error" and status.get("error"):
            line.append(": " + visible(str(status["error"]), 60), style=str(style))
        elif state == "waiting":  # "◌ waiting for gw.jsonl to appear"
            line.append(" " + visible(str(status.get("detail") or "waiting"), 60), style=str(style))
        line.append(" " + rate(s.rates.get(name, 0.0), "/s"))
        if status.get("skipped"):
            line.append(f" skipped {count(int(status['skipped']))}", style=str(s.palette["warning"]))
        shared = overlap_note(status)
        if shared:
            line.append(" " + shared, style=str(s.palette["muted"]))
    return line


def overlap_note(status: Mapping[str, Any]) -> str:
    """``shares 950 with ledger``: the requests another counted source also delivered (counted once)."""
    overlap = status.get("overlap") or {}
    shared = overlap.get("shared") or {}
    if not shared:
        return ""
    other, n = max(shared.items(), key=lambda item: item[1])
    return f"shares {count(int(n))} with {visible(str(other), 20)}"


class StatusHeader(Static):
    """Two lines at the top of the screen; repainted each tick, paused or not."""

    DEFAULT_CSS = """
    StatusHeader { height: 2; background: $panel; }
    """

    _shown: Text | None = None

    def show(self, state: HeaderState) -> None:
        text = status_line(state)
        text.append("\n")
        text.append_text(sources_line(state))
        if text != self._shown:
            self._shown = text
            self.update(text, layout=False)  # fixed height: no relayout of the screen each tick
