"""Secrets never shown: token shapes x every output, against a real HTTP server on 127.0.0.1.

Every token holds the marker ``SECRET``; no output may hold it, whatever form the token took on its
way there (as given, ``repr`` of header bytes, percent-encoded, JSON-escaped). Tokens that cannot be
sent in a header are refused at start by every command, naming the variable, never the value.
Outputs: the screen, ``snapshot`` text/JSON/CSV, ``check`` text/JSON, ``tail``, the alert log and
command, and Python logging at DEBUG.
"""

from __future__ import annotations

import html
import logging
import re
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

sys.path.insert(0, str(Path(__file__).parent / "sources"))
from endpoint_server import Reply, UsageServer  # noqa: E402

from tokentop import cli  # noqa: E402
from tokentop.alerting import AlertMonitor  # noqa: E402
from tokentop.config import ConfigError, parse_config  # noqa: E402
from tokentop.core.aggregate import Aggregator  # noqa: E402
from tokentop.sources.registry import open_source  # noqa: E402

MARK = "SECRET"
SENDABLE = {
    "plain": "sk-live-SECRET-4f9a1c",
    "url-special": "sk+live/SECRET=4f&9a?1c%2F",
    "quotes-backslash": "sk'live\"SECRET\\4f9a",
}
UNSENDABLE = {
    "cr-at-end": "sk-live-SECRET-4f9a1c\r",
    "lf-inside": "sk-live\nSECRET-4f9a1c",
    "non-ascii": "sk-live-SÉCRET-ü-4f9a",
    "tab": "sk-live\tSECRET",
    "space": "sk-live SECRET",
    "escape": "sk-live\x1b]0;SECRET\x07",
}
PATH = "/api/user/usage"


def echoes(token: str) -> str:
    """The token as a careless server would quote it back, in several spellings."""
    return f"token {token} / {quote(token, safe='')} / {token!r} / {token.encode()!r} rejected"


@pytest.fixture
def server():
    s = UsageServer()
    yield s
    s.close()


@pytest.fixture
def echo_server(server, monkeypatch):
    """A usage endpoint that answers ok=false quoting the token, and echoes it in a header."""

    def serve(token: str) -> str:
        monkeypatch.setenv("TOKENTOP_HTTP_TOKEN", token)
        server.set(PATH, Reply(body={"ok": False, "tokensUsed": 0, "error": echoes(token)},
                               headers={"X-Echo": quote(token)}))
        return f"{server.base}{PATH}?api_key={quote(token, safe='')}&x=1"

    return serve


def run(capfd, *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    out, err = capfd.readouterr()
    return code, out + err


def assert_no_secret(text: str) -> None:
    assert MARK not in text and MARK.lower() not in text.lower()
    assert "Traceback" not in text


# -- tokens that can be sent: the token comes back from the server in many forms ------------------------

@pytest.mark.parametrize("shape", SENDABLE)
@pytest.mark.parametrize("argv", [("snapshot",), ("snapshot", "--json"), ("snapshot", "--csv"),
                                  ("check",), ("check", "--json"),
                                  ("tail", "--exit-idle", "2"), ("tail", "--json", "--exit-idle", "2")],
                         ids=" ".join)
def test_headless_outputs_never_show_a_token(echo_server, capfd, caplog, shape, argv):
    caplog.set_level(logging.DEBUG)  # Python logging at DEBUG is an output too
    url = echo_server(SENDABLE[shape])
    code, text = run(capfd, *argv, url)
    assert code in (0, 1, 2)
    if argv[0] != "tail" and "--csv" not in argv:  # (CSV has no source statuses)
        assert "ok=false" in text  # the error did reach the output, redacted
    assert_no_secret(text + caplog.text)
    assert "HTTP Request" in caplog.text  # httpx logged (redacted)


@pytest.mark.parametrize("shape", SENDABLE)
async def test_alert_log_and_command_never_show_a_token(echo_server, tmp_path, caplog, shape):
    caplog.set_level(logging.DEBUG)
    url = echo_server(SENDABLE[shape])
    source = open_source(url, parse_config({}))
    [_ async for _ in source.batches(follow=False)]
    assert source.status.state == "error"
    out = tmp_path / "cmd.jsonl"
    monitor = AlertMonitor.from_config(
        parse_config({}), log_path=str(tmp_path / "log.jsonl"),
        command=f"{sys.executable} -c \"import sys; open(r'{out}', 'ab').write(sys.stdin.buffer.read())\"")
    transitions = monitor.evaluate(Aggregator(), [source], 1_790_000_000.0)
    assert [t.alert.rule for t in transitions] == ["source_error"]
    await monitor.aclose()
    log, command = (tmp_path / "log.jsonl").read_text(), out.read_text()
    assert "ok=false" in log and "ok=false" in command
    assert_no_secret(log + command + caplog.text)


@pytest.mark.parametrize("shape", SENDABLE)
async def test_the_screen_never_shows_a_token(echo_server, shape):
    from tokentop.ui.app import TokentopApp

    url = echo_server(SENDABLE[shape])
    config = parse_config({"alerts": {"interval": 0.2}})
    app = TokentopApp([open_source(url, config)], config)
    async with app.run_test(size=(200, 50)) as pilot:
        for _ in range(300):  # until the source_error alert is up (its toast shows the whole message)
            if app.snapshot is not None and any(a.rule == "source_error" for a in app.snapshot.alerts):
                break
            await pilot.pause(0.02)
        from tokentop.ui.screens.detail import AlertDetailScreen

        await app.push_screen(AlertDetailScreen(app.snapshot.alerts[0]))  # the alert's whole message
        await pilot.pause(0.3)
        screen = html.unescape(re.sub(r"<[^>]+>", "", app.export_screenshot())).replace("\xa0", " ")
    assert "ok=false" in screen  # the message is on screen, redacted
    assert_no_secret(screen)


# -- tokens that cannot be sent: every command refuses at start ---------------------------------------------

@pytest.mark.parametrize("shape", UNSENDABLE)
@pytest.mark.parametrize("argv", [("snapshot",), ("snapshot", "--json"), ("check", "--json"),
                                  ("tail", "--exit-idle", "0.3"), ()], ids=lambda a: " ".join(a) or "monitor")
def test_a_token_that_cannot_be_sent_is_refused_by_name(server, monkeypatch, capfd, caplog, shape, argv):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TOKENTOP_HTTP_TOKEN", UNSENDABLE[shape])
    if not argv:  # the monitor, as started from a terminal (without one it refuses for that first)
        monkeypatch.setattr("tokentop.ui.launch.refuse_without_terminal", lambda: None)
    server.set(PATH, Reply(body={"ok": True, "tokensUsed": 1}))
    code, text = run(capfd, *argv, f"{server.base}{PATH}")
    assert code == 2
    assert "$TOKENTOP_HTTP_TOKEN" in text and "cannot be sent in an HTTP header" in text
    assert "the value is not shown" in text
    assert_no_secret(text + caplog.text)
    assert server.requests == []  # nothing was sent


@pytest.mark.parametrize("shape", UNSENDABLE)
def test_the_refusal_says_what_is_wrong(monkeypatch, shape):
    monkeypatch.setenv("MY_TOKEN", UNSENDABLE[shape])
    config = parse_config({"sources": {"u": {"kind": "http", "url": "https://usage.example/api",
                                             "token_env": "MY_TOKEN"}}})
    with pytest.raises(ConfigError) as info:
        open_source("u", config)
    message = str(info.value)
    assert info.value.key == "$MY_TOKEN"
    expected = {"cr-at-end": "line break at the end", "lf-inside": "line break inside",
                "non-ascii": "non-ASCII", "tab": "space or a tab", "space": "space or a tab",
                "escape": "control character"}[shape]
    assert expected in message
    assert_no_secret(message)


def test_redaction_covers_every_spelling_of_a_remembered_token():
    from tokentop.sources.endpoint_secrets import redact, remember

    token = "tok+en/SECRET=x&y"
    remember(token)
    spellings = [token, quote(token, safe=""), quote(token, safe="").lower(), repr(token), repr(token.encode()),
                 token.replace("\\", "\\\\"), f'"{token}"']
    for text in spellings:
        assert MARK not in redact(f"error: {text} (end)"), text
