"""Every key of the keymap, pressed in a real terminal (the app in tmux) at 80x24 and 160x48.

The app follows a real JSONL log (40 users; provider azure with 30 % estimated counts, so an
``accuracy_drop`` alert is active). Each binding id of ``tokentop.ui.keymap`` has a check below that
presses each of its keys and reads the effect off the screen; a key added to the keymap without a
check fails ``test_every_binding_has_a_terminal_check``.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tokentop.ui import keymap

from .tmux import Tmux, app_env

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

USERS = 40


def write_log(path: Path) -> None:
    now = time.time()
    with path.open("w") as out:
        for i in range(120):
            record = {"ts": now - 240 + 2 * i, "request_id": f"r{i}", "user": f"u{i % USERS:02d}",
                      "provider": "azure", "model": "gpt-4o", "prompt_tokens": 100 + i, "completion_tokens": 10,
                      "token_source": "estimated" if i % 10 < 3 else "actual"}
            out.write(json.dumps(record) + "\n")


@pytest.fixture(params=[(80, 24), (160, 48)], ids=["80x24", "160x48"])
def term(request, tmp_path):  # noqa: ANN001, ANN201
    log = tmp_path / "gw.jsonl"
    write_log(log)
    config = tmp_path / "tokentop.toml"
    config.write_text(f'[sources.gw]\nkind = "jsonl"\npath = "{log}"\nstart = "beginning"\n'
                      "[alerts.logging_stopped]\nenabled = false\n")  # the log ends when the test starts
    tmux = Tmux([sys.executable, "-m", "tokentop", "--config", str(config)], request.param, tmp_path,
                app_env(tmp_path))
    try:
        tmux.wait_for("accuracy_drop" if request.param[0] >= 120 else "4 Alerts (1!)", timeout=60)
        yield tmux
    finally:
        tmux.close()


def keys_of(binding_id: str) -> tuple[str, ...]:
    return keymap.effective_keys({})[binding_id]


def detail_title(t: Tmux) -> str:
    """Which table has focus, read from the detail view ``d`` opens on its selected row."""
    t.keys("d")
    marks = ("╭─ Request", "╭─ user:", "╭─ provider:", "╭─ Alert ─")
    screen = t.wait(lambda s: any(m in s for m in marks), "a detail view")
    title = next(line for line in screen.splitlines() if any(m in line for m in marks))
    t.keys("escape")
    t.wait(lambda s: not any(m in s for m in marks), "the detail view closed")
    return title.split("╭─ ", 1)[1].split(" ─", 1)[0]


def check_help(t: Tmux) -> None:
    for key in keys_of("help"):
        t.keys(key)
        t.wait_for("Main screen")
        t.keys("escape")
        t.wait_gone("Main screen")


def check_close(t: Tmux) -> None:
    for key in keys_of("close"):
        t.keys("question_mark")
        t.wait_for("Main screen")
        t.keys(key)
        t.wait_gone("Main screen")
    assert not t.dead  # q closed the screen over the panels; it did not quit


def check_filter(t: Tmux) -> None:
    for key in keys_of("filter"):
        t.keys(key)
        t.wait_for("words match any field")
        t.type("u01")
        t.keys("enter")
        t.wait_for("filter: u01")
        t.keys(key)
        t.wait_for("words match any field")
        t.keys("BSpace", "BSpace", "BSpace", "enter")
        t.wait_gone("filter: u01")


def check_pause(t: Tmux) -> None:
    for key in keys_of("pause"):
        t.keys(key)
        t.wait_for("PAUSED")
        t.keys(key)
        t.wait_for("▶ live")


def check_panels(t: Tmux) -> None:
    """Digits go to a panel; Tab and Shift+Tab step through them, in either layout."""
    titles = {0: "Request", 1: "user:", 2: "provider:", 3: "Alert"}
    for n in (2, 3, 4, 1):
        t.keys(str(n))
        assert detail_title(t).startswith(titles[n - 1])
    for step in (1, 2, 3, 0):
        t.keys(*keys_of("next-panel"))
        assert detail_title(t).startswith(titles[step])
    t.keys(*keys_of("previous-panel"))
    assert detail_title(t).startswith(titles[3])
    t.keys("1")


def check_sort(t: Tmux) -> None:
    t.keys("1")
    t.wait_for("Time ▼")
    for key in keys_of("sort"):
        t.keys(key)
        t.wait_gone("Time ▼")
        t.keys(*keys_of("sort-back"))
        t.wait_for("Time ▼")


def check_sort_reverse(t: Tmux) -> None:
    t.keys("1", *keys_of("sort-reverse"))
    t.wait_for("Time ▲")
    t.keys(*keys_of("sort-reverse"))
    t.wait_for("Time ▼")


def check_alert_history(t: Tmux) -> None:
    t.keys(*keys_of("alert-history"))
    t.wait_for("Alert history")
    t.wait_for("accuracy_drop · provider=azure")  # the strip under the tables: the selected alert whole
    for key in (*keys_of("next-table"), *keys_of("previous-table")):
        t.keys(key)  # to the (empty) resolved table: nothing selected, no strip
        t.wait_gone("accuracy_drop · provider=azure")
        t.keys(key)
        t.wait_for("accuracy_drop · provider=azure")
    t.keys("escape")
    t.wait_gone("Alert history")


def check_window(t: Tmux) -> None:
    for expected in ("24h", "period", "5m", "1h"):
        t.keys(*keys_of("window"))
        t.wait_for(f"window {expected}")


def check_detail(t: Tmux) -> None:
    t.keys("1")
    for key in (*keys_of("detail"), *keys_of("select")):
        t.keys(key)
        t.wait_for("request_id")
        t.keys("escape")
        t.wait_gone("╭─ Request")


def check_models(t: Tmux) -> None:
    t.keys("3", *keys_of("models"))
    t.wait_for("By model")
    t.keys(*keys_of("models"))
    t.wait_for("By provider")


def check_follow(t: Tmux) -> None:
    for binding in ("follow", "first"):
        for key in keys_of(binding):
            t.keys("1", "down")
            t.wait_for("(f: follow)")  # the cursor left the newest row: the table stopped following
            t.keys(key)
            t.wait_gone("(f: follow)")


def check_cursor(t: Tmux) -> None:
    """Up/down (and k/j), page keys and Home/End in the users panel, read back through its detail view:
    users are sorted by usage, u39 first and u00 last."""
    t.keys("2", "home")
    assert detail_title(t) == "user: u39"
    for down, up in zip(keys_of("down"), keys_of("up")):
        t.keys(down)
        assert detail_title(t) == "user: u38"
        t.keys(up)
        assert detail_title(t) == "user: u39"
    t.keys(*keys_of("last"))
    assert detail_title(t) == "user: u00"
    t.keys(*keys_of("page-up"))
    assert detail_title(t) not in ("user: u00", "user: u39")
    t.keys(*keys_of("first"))
    assert detail_title(t) == "user: u39"
    t.keys(*keys_of("page-down"))
    assert detail_title(t) not in ("user: u00", "user: u39")


def check_refresh(t: Tmux) -> None:
    t.keys(*keys_of("faster"))
    t.wait_for("3 Hz")
    t.keys(*keys_of("slower"))
    t.wait_for("2 Hz")


def check_theme(t: Tmux) -> None:
    t.keys(*keys_of("theme"))
    t.wait(lambda s: "theme: " in s and "theme: dark" not in s, "the next theme's name")
    t.keys(*keys_of("theme"), *keys_of("theme"), *keys_of("theme"))  # four built-in themes: back to dark
    t.wait_for("theme: dark")


def check_palette(t: Tmux) -> None:
    t.keys(*keys_of("palette"))
    t.wait_for("Search for commands")
    t.type("Window")
    t.wait_for("Cycle the window")
    t.keys("enter")
    t.wait_for("window 24h")
    t.keys("w", "w", "w")
    t.wait_for("window 1h")


def check_mute(t: Tmux) -> None:
    t.keys("4", *keys_of("mute"))
    t.wait_for("muted accuracy_drop for provider=azure")
    t.wait_for("no active alerts")


def check_quit(t: Tmux) -> None:
    t.keys(*keys_of("quit"))
    t.wait_dead()
    t.respawn("Recent requests")
    t.keys("question_mark")
    t.wait_for("Main screen")
    t.keys(*keys_of("quit-anywhere"))  # even over a screen
    t.wait_dead()
    t.respawn("Recent requests")
    t.keys(*keys_of("interrupt"))  # as in top
    t.wait_dead()


CHECKS: dict[str, Callable[[Tmux], None]] = {
    "help": check_help, "close": check_close, "filter": check_filter, "pause": check_pause,
    "next-panel": check_panels, "previous-panel": check_panels,
    **{f"panel-{n}": check_panels for n in range(1, 5)},
    "sort": check_sort, "sort-back": check_sort, "sort-reverse": check_sort_reverse,
    "alert-history": check_alert_history, "next-table": check_alert_history,
    "previous-table": check_alert_history, "window": check_window,
    "detail": check_detail, "select": check_detail, "models": check_models, "follow": check_follow,
    "first": check_follow, "up": check_cursor, "down": check_cursor, "page-up": check_cursor,
    "page-down": check_cursor, "last": check_cursor, "faster": check_refresh, "slower": check_refresh,
    "theme": check_theme, "palette": check_palette, "mute": check_mute, "quit": check_quit,
    "quit-anywhere": check_quit, "interrupt": check_quit,
}
"""Binding id -> the check that presses its keys. Order of first appearance is the order run; mute and
quit change the app's state for good, so they come last."""


def test_every_binding_has_a_terminal_check() -> None:
    assert set(CHECKS) == set(keymap.BY_ID)


def test_every_key_works_in_a_real_terminal(term: Tmux) -> None:
    for check in dict.fromkeys(CHECKS.values()):
        check(term)
