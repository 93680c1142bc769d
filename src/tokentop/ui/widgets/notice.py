"""The notice line: the app's notifications, one line above the footer, never over a panel.

Textual's toasts stack in the bottom-right corner, which is where the Alerts panel is: when several
alerts fired at once their toasts hid the very panel that listed them for 5-8 s. Here the newest
notice takes one line of the layout (the panels give it up while it shows) and says how many more
arrived with it; each lasts its timeout.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from textual.content import Content
from textual.timer import Timer
from textual.widgets import Static

from tokentop.core.sanitize import visible

MARKERS = {"error": "✖", "warning": "●", "information": "·"}


@dataclass(frozen=True, slots=True)
class Notice:
    message: str
    title: str
    severity: str
    until: float
    """Monotonic time it stops showing."""


class NoticeLine(Static):
    DEFAULT_CSS = """
    NoticeLine { height: 1; display: none; background: $panel; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    NoticeLine.-shown { display: block; }
    NoticeLine.-warning { color: $tt-warning; }
    NoticeLine.-error { color: $tt-critical; text-style: $tt-critical-style; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)
        self.notices: list[Notice] = []
        """What is showing or waiting to, newest last."""
        self.posted: deque[Notice] = deque(maxlen=200)
        """Every notice posted (the newest 200), for tests and post-mortems."""
        self._expiry: Timer | None = None

    def post(self, message: str, title: str, severity: str, timeout: float) -> None:
        notice = Notice(message, title, severity, self._now() + timeout)
        self.notices.append(notice)
        self.posted.append(notice)
        self._show()

    @staticmethod
    def _now() -> float:
        return time.monotonic()

    def _show(self) -> None:
        now = self._now()
        self.notices = [n for n in self.notices if n.until > now]
        if self._expiry is not None:
            self._expiry.stop()
            self._expiry = None
        self.set_class(bool(self.notices), "-shown")
        if not self.notices:
            return
        newest = self.notices[-1]
        for severity in ("warning", "error"):
            self.set_class(newest.severity == severity, f"-{severity}")
        parts: list[str | tuple[str, str]] = [MARKERS.get(newest.severity, "·") + " "]
        if newest.title:
            parts.append((visible(newest.title, 80) + ": ", "bold"))
        parts.append(visible(newest.message, 300))
        if len(self.notices) > 1:
            parts.append((f"  (+{len(self.notices) - 1} more)", "italic"))
        line = Content.assemble(*parts)
        self.update(line)
        self._expiry = self.set_timer(min(n.until for n in self.notices) - now, self._show)
