"""The live app in a real terminal: tmux runs it, ``send-keys`` types, ``capture-pane`` reads the screen.

Each instance has its own tmux server (its own socket), so tests never touch a user's sessions.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

KEY_NAMES = {
    "question_mark": "?", "slash": "/", "space": "Space", "tab": "Tab", "shift+tab": "BTab",
    "greater_than_sign": ">", "less_than_sign": "<", "plus": "+", "minus": "-", "enter": "Enter",
    "escape": "Escape", "up": "Up", "down": "Down", "pageup": "PPage", "pagedown": "NPage", "home": "Home",
    "end": "End", "f1": "F1",
}
"""Textual key names -> tmux key names (single characters are sent as they are; ``ctrl+x`` is ``C-x``)."""


def tmux_key(key: str) -> str:
    if key.startswith("ctrl+"):
        return "C-" + key.removeprefix("ctrl+")
    name = KEY_NAMES.get(key, key)
    if len(name) > 1 and name[0].islower() and "+" in name:
        raise ValueError(f"no tmux name for the key {key!r}")  # sent as is, it would type its letters
    return name


class Tmux:
    def __init__(self, argv: Sequence[str], size: tuple[int, int], cwd: Path, env: dict[str, str]) -> None:
        self.socket = f"tokentop-test-{uuid.uuid4().hex[:12]}"
        self.argv, self.size, self.cwd = list(argv), size, cwd
        self.env = env
        self._tmux("new-session", "-d", "-s", "t", "-x", str(size[0]), "-y", str(size[1]), "-c", str(cwd),
                   self._command())
        self._tmux("set-option", "-s", "escape-time", "0")
        self._tmux("set-option", "-t", "t", "remain-on-exit", "on")
        self.socket_path = Path(self._tmux("display-message", "-p", "#{socket_path}").strip())

    def _command(self) -> str:
        exports = " ".join(f"{name}={shlex.quote(value)}" for name, value in self.env.items())
        return f"env {exports} {shlex.join(self.argv)}"

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True,
                              timeout=20).stdout

    def keys(self, *keys: str) -> None:
        """Type each key (Textual names or tmux names); literal text with :meth:`type`."""
        for key in keys:
            self._tmux("send-keys", "-t", "t", tmux_key(key))
            time.sleep(0.05)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "t", "-l", text)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def wait(self, predicate: Callable[[str], bool], what: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{what}: not on screen within {timeout:g} s:\n{screen}")

    def wait_for(self, text: str, timeout: float = 15.0) -> str:
        return self.wait(lambda s: text in s, repr(text), timeout)

    def wait_gone(self, text: str, timeout: float = 15.0) -> str:
        return self.wait(lambda s: text not in s, f"{text!r} gone", timeout)

    @property
    def dead(self) -> bool:
        return self._tmux("display-message", "-p", "-t", "t", "#{pane_dead}").strip() == "1"

    def wait_dead(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.dead:
            if time.monotonic() > deadline:
                raise AssertionError(f"the app did not end:\n{self.screen()}")
            time.sleep(0.1)

    def respawn(self, ready: str) -> None:
        """Start the app again in the same pane, once the last one ended; back when ``ready`` shows
        on a screen the new one drew (the dead pane still shows the old screen until then)."""
        self._tmux("respawn-pane", "-k", "-t", "t", self._command())
        self.wait(lambda s: ready in s and "Pane is dead" not in s, f"{ready!r} from the new app", timeout=60)
        time.sleep(0.5)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=20)
        self.socket_path.unlink(missing_ok=True)  # (kill-server leaves it behind)


def app_env(tmp: Path) -> dict[str, str]:
    """No user config, no theme dir of the developer's, a colour terminal."""
    return {"XDG_CONFIG_HOME": str(tmp / "xdg"), "HOME": str(tmp / "home"), "TERM": "xterm-256color",
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "LANG": "C.UTF-8"}
