"""The footer: the keys that work here, from the keymap, never cut in the middle of a word.

Textual's Footer lays every shown key out in a row and lets the terminal's edge cut the last one
("w Wind"); this one shows whole entries only, in keymap order (the most useful first), so at 80
columns the footer is shorter, never wrong. What is left out is on the help screen (``?``).
"""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget

from tokentop.ui.keymap import BY_ID


class KeyFooter(Widget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"key-footer--key", "key-footer--label"}
    DEFAULT_CSS = """
    KeyFooter { height: 1; background: $footer-background; }
    ModalScreen > KeyFooter { dock: bottom; }
    KeyFooter > .key-footer--key { color: $footer-key-foreground; background: $footer-key-background; text-style: bold; }
    KeyFooter > .key-footer--label { color: $footer-description-foreground; }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, _screen: object) -> None:
        self.refresh()

    def entries(self) -> list[tuple[str, str]]:
        """(keys, label) of every footer key active on this screen, in keymap order; a binding with
        several keys shows its first."""
        shown: dict[str, tuple[int, str, str]] = {}
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            spec = BY_ID.get(binding.id or "")
            if spec is None or not spec.footer or not active.enabled or binding.id in shown:
                continue
            shown[binding.id] = (spec.footer, self.app.get_key_display(Binding(key, "")), spec.label)
        return [(keys, label) for _, keys, label in sorted(shown.values())]

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-footer--key")
        label_style = self.get_component_rich_style("key-footer--label")
        line = Text(no_wrap=True, end="")
        room = self.size.width
        for keys, label in self.entries():
            width = cell_len(keys) + cell_len(label) + 3
            if cell_len(line.plain) + width > room:
                break  # whole entries only: the rest are on the help screen
            line.append(f" {keys} ", key_style)
            line.append(f"{label} ", label_style)
            line.append(" ")
        return line
