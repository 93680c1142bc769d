"""The glue: one-shot evaluation and exit codes, the alert log, the alert command, the monitor."""

from __future__ import annotations

import asyncio
import sys
import time

import orjson
import pytest
from alerts.helpers import StubSource, stream

from tokentop.alerting import (
    AlertCommand, AlertDispatcher, AlertLog, AlertMonitor, check_exit_status, evaluate_once,
)
from tokentop.config import Config, parse_config
from tokentop.core.aggregate import Aggregator
from tokentop.core.alerts import AlertEngine, Finding
from tokentop.core.snapshot import AlertView
from tokentop.sources.base import SourceStatus


def alert(severity: str) -> AlertView:
    return AlertView("quota", severity, "user=a", "m", 0.0)


def test_exit_status():
    ok = [StubSource("gateway")]
    assert check_exit_status([], ok) == 0
    assert check_exit_status([alert("info")], ok) == 0
    assert check_exit_status([alert("info"), alert("warning")], ok) == 1
    assert check_exit_status([alert("warning"), alert("critical")], ok) == 2
    broken = [StubSource("a", status=SourceStatus("a", "jsonl", state="error")),
              StubSource("b", status=SourceStatus("b", "sqlite", state="error"))]
    assert check_exit_status([], broken) == 2
    assert check_exit_status([], [broken[0], ok[0]]) == 0


def test_evaluate_once_on_a_faulty_stream(clock):
    agg = Aggregator()
    stream(agg, clock.now - 120, clock.now, 2, provider="azure", token_source="estimated")
    alerts = evaluate_once(agg, [StubSource("gateway")], Config(), clock.now)
    assert [(a.rule, a.severity, a.subject) for a in alerts] == [("accuracy_drop", "critical", "provider=azure")]
    assert check_exit_status(alerts, [StubSource("gateway")]) == 2


def test_evaluate_once_quiet_and_muted(clock):
    agg = Aggregator()
    stream(agg, clock.now - 120, clock.now, 2)
    assert evaluate_once(agg, [StubSource("gateway")], Config(), clock.now) == []
    stream(agg, clock.now - 120, clock.now, 2, provider="azure", token_source="estimated")
    muted = parse_config({"alerts": {"mute": ["accuracy_drop:provider=azure"]}})
    assert evaluate_once(agg, [StubSource("gateway")], muted, clock.now) == []


def test_alert_log_appends_one_json_line_per_transition(tmp_path, clock):
    engine = AlertEngine()
    log = AlertLog(tmp_path / "alerts.jsonl")
    log.write(engine.update([Finding("quota", "warning", "user=alice", "alice at 85%")], clock.now))
    engine.settings = engine.settings.__class__(**{**_fields(engine.settings), "resolve_after": 1,
                                                   "resolve_seconds": 0})
    log.write(engine.update([], clock.advance(10)))
    lines = [orjson.loads(line) for line in (tmp_path / "alerts.jsonl").read_bytes().splitlines()]
    assert [(d["event"], d["rule"], d["subject"], d["severity"]) for d in lines] == [
        ("start", "quota", "user=alice", "warning"), ("end", "quota", "user=alice", "warning")]
    assert lines[1]["resolved_at"] == lines[1]["at"] and lines[0]["since"] == lines[1]["since"]
    assert log.written == 2 and log.failures == 0


def _fields(settings):
    return {name: getattr(settings, name) for name in settings.__slots__}


def test_alert_log_failure_is_counted_not_raised(tmp_path, clock):
    log = AlertLog(tmp_path / "no-such-dir" / "alerts.jsonl")
    log.write(AlertEngine().update([Finding("quota", "warning", "user=a", "x")], clock.now))
    assert log.failures == 1 and "cannot write alert log" in log.last_error


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def python(code: str) -> str:
    return f'"{sys.executable}" -c "{code}"'


async def test_alert_command_receives_the_alert_as_json_on_stdin(tmp_path):
    out = tmp_path / "got.json"
    command = AlertCommand(python(f"import sys; open(r'{out}', 'wb').write(sys.stdin.buffer.read())"), timeout=10)
    assert command.submit({"event": "start", "rule": "quota", "subject": "user=alice"})
    await command.aclose()
    assert orjson.loads(out.read_bytes()) == {"event": "start", "rule": "quota", "subject": "user=alice"}
    assert (command.succeeded, command.failures) == (1, 0)


async def test_hanging_command_is_killed_at_timeout_without_blocking(tmp_path):
    command = AlertCommand(python("import time; time.sleep(60)"), timeout=0.5)
    started = time.monotonic()
    command.submit({"event": "start"})
    assert time.monotonic() - started < 0.2  # submit returns at once
    assert command.running == 1
    await wait_for(lambda: command.running == 0)
    assert time.monotonic() - started < 5
    assert command.timeouts == 1 and "timed out" in command.last_error


async def test_hanging_shell_pipeline_is_killed_with_its_children(tmp_path):
    """The shell must fork for a command list, so only killing its process group stops the child."""
    marker = tmp_path / "survived"
    child = python(f"import time; time.sleep(1); open(r'{marker}', 'w')")
    command = AlertCommand(f"{child}; true", timeout=0.3)
    command.submit({})
    await command.aclose()
    await asyncio.sleep(1.3)
    assert not marker.exists() and command.timeouts == 1


async def test_failing_commands_are_counted():
    command = AlertCommand(python("import sys; sys.stderr.write('boom'); sys.exit(3)"))
    command.submit({})
    await command.aclose()
    assert command.failures == 1 and "status 3: boom" in command.last_error


async def test_too_many_running_commands_are_dropped_and_counted():
    command = AlertCommand(python("import time; time.sleep(60)"), timeout=1, max_running=2)
    assert [command.submit({}) for _ in range(3)] == [True, True, False]
    assert command.dropped == 1
    await command.aclose()


async def test_monitor_delivers_to_log_command_and_bell(tmp_path, clock):
    rings = []
    out = tmp_path / "cmd.jsonl"
    config = parse_config({"alerts": {"resolve_after": 1, "resolve_seconds": 0, "logging_stopped": {"enabled": False}}})
    monitor = AlertMonitor.from_config(
        config, log_path=str(tmp_path / "log.jsonl"), bell=lambda: rings.append(1), ring=True,
        command=python(f"import sys; open(r'{out}', 'ab').write(sys.stdin.buffer.read())"),
    )
    agg = Aggregator()
    stream(agg, clock.now - 120, clock.now, 2, provider="azure", token_source="estimated")
    sources = [StubSource("gateway")]
    [start] = monitor.evaluate(agg, sources, clock.now)
    assert start.kind == "start" and rings == [1]
    assert [a.subject for a in monitor.active] == ["provider=azure"]
    [end] = monitor.evaluate(agg, sources, clock.advance(600))  # the window has moved past the events
    assert end.kind == "end" and monitor.active == []
    assert [a.subject for a in monitor.resolved(clock.now)] == ["provider=azure"]
    await monitor.aclose()
    logged = [orjson.loads(x)["event"] for x in (tmp_path / "log.jsonl").read_bytes().splitlines()]
    assert logged == ["start", "end"]
    assert sorted(orjson.loads(x)["event"] for x in out.read_bytes().splitlines()) == ["end", "start"]


def test_command_outside_an_event_loop_is_a_counted_failure():
    command = AlertCommand(python("pass"))
    assert command.submit({}) is False
    assert command.failures == 1 and "no event loop" in command.last_error


def test_dispatcher_without_channels_does_nothing(clock):
    AlertDispatcher().deliver(AlertEngine().update([Finding("quota", "warning", "user=a", "x")], clock.now))


@pytest.mark.parametrize("bell_in_config", [True, False])
def test_bell_rings_only_when_asked(clock, bell_in_config):
    rings = []
    config = parse_config({"alerts": {"bell": bell_in_config}})
    monitor = AlertMonitor.from_config(config, bell=lambda: rings.append(1))
    monitor.dispatcher.deliver(AlertEngine().update([Finding("quota", "warning", "user=a", "x")], clock.now))
    assert rings == ([1] if bell_in_config else [])


def test_poll_evaluates_only_when_the_interval_has_passed(clock):
    monitor = AlertMonitor.from_config(parse_config({"alerts": {"interval": 5}}))
    agg = Aggregator()
    stream(agg, clock.now - 120, clock.now, 2, provider="azure", token_source="estimated")
    sources = [StubSource("gateway")]
    active, resolved, transitions = monitor.poll(agg, sources, clock.now)
    assert [t.kind for t in transitions] == ["start"] and [a.subject for a in active] == ["provider=azure"]
    stream(agg, clock.now, clock.now + 2, 0.08, provider="groq", token_source="estimated")
    assert monitor.poll(agg, sources, clock.advance(2))[2] == []  # not due: no new alert yet
    assert [t.alert.subject for t in monitor.poll(agg, sources, clock.advance(3))[2]] == ["provider=groq"]
