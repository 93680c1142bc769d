"""Two outages in a row: the second must be reported like the first, by the live app's alerting and by
``tokentop check`` alike (the usual gap is learned from healthy periods only)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time

import pytest
from alerts.helpers import StubSource, event, rule_settings, situation, stream

from tokentop.alerting import AlertMonitor, evaluate_once
from tokentop.config import Config
from tokentop.core.aggregate import Aggregator
from tokentop.core.alerts.liveness import logging_stopped
from tokentop.core.event import UsageEvent

CFG = rule_settings("logging_stopped")


def test_a_second_outage_after_a_long_first_one_is_reported(clock):
    """A writer logging every 2 s stops for 2m39s, restarts for 5 minutes, then stops again: 48 s into
    the second stop it is reported, as the first one was (the 159 s gap is an outage, not the norm)."""
    agg = Aggregator(clock=clock)
    start = clock.now
    stream(agg, start, start + 1800, 2)
    first_stop = start + 1800
    assert logging_stopped(situation(agg, clock.advance(1800 + 48)), CFG)  # the first outage
    restart = first_stop + 159
    stream(agg, restart, restart + 300, 2)
    second_stop = restart + 300
    clock.now = second_stop + 40
    assert logging_stopped(situation(agg, clock.now), CFG) == []  # 40 s: not yet (min_silence 45 s)
    clock.now = second_stop + 48
    findings = logging_stopped(situation(agg, clock.now), CFG)
    assert [f.subject for f in findings] == ["source=gateway"]
    assert "sent no events for 50s" in findings[0].message  # (the last event was at second_stop - 2)
    assert "alerting after 45s" in findings[0].message


def test_the_app_and_check_agree_on_two_outages(clock):
    """The live app evaluates every 5 s as events arrive (alert lifecycle and all); ``check`` evaluates
    once on everything read. Both report the second outage, and the app's first alert resolves in
    between."""
    monitor = AlertMonitor.from_config(Config())
    live = Aggregator(clock=clock)
    sources = [StubSource("gateway")]
    start = clock.now
    writing = [(start, start + 1800), (start + 1959, start + 2259)]  # 2m39s, then 5 min, then silence
    stamps = [t for a, b in writing for t in _every(a, b, 2)]
    kinds: list[tuple[str, float]] = []
    added = 0
    for now in range(int(start), int(start + 2259 + 60), 5):  # the app's evaluation interval
        arrived = [t for t in stamps[added:] if t < now]
        live.add_many([_event(t) for t in arrived])
        added += len(arrived)
        clock.now = float(now)
        _, _, transitions = monitor.poll(live, sources, clock.now, deliver=False)
        kinds += [(t.kind, now - start) for t in transitions if t.alert.rule == "logging_stopped"]
    assert [k for k, _ in kinds] == ["start", "end", "start"], kinds
    first_start, _, second_start = (at for _, at in kinds)
    assert 1845 <= first_start <= 1855  # 45-55 s into the first outage
    assert 2259 + 45 <= second_start <= 2259 + 55  # and into the second one
    # `check` on the same events at the same moment: a fresh aggregator, one evaluation.
    once = Aggregator(clock=clock)
    once.add_many([_event(t) for t in stamps])
    views = evaluate_once(once, sources, Config(), clock.now)
    assert [(v.rule, v.subject) for v in views] == [("logging_stopped", "source=gateway")]
    assert monitor.active[0].message == views[0].message


def _every(a: float, b: float, step: float) -> list[float]:
    out, ts = [], a
    while ts < b:
        out.append(ts)
        ts += step
    return out


def _event(ts: float) -> UsageEvent:
    return event(ts)


@pytest.mark.skipif(importlib.util.find_spec("tokentop.sources.jsonl") is None, reason="no JSONL source")
def test_check_reports_the_second_outage_in_a_real_log(tmp_path):
    """End to end on a real file: ``tokentop check`` reports the second, shorter outage."""
    now = time.time()
    log = tmp_path / "gw.jsonl"
    second_stop = now - 50
    spans = [(second_stop - 300 - 159 - 1800, second_stop - 300 - 159), (second_stop - 300, second_stop)]
    with log.open("w") as out:
        for a, b in spans:
            for ts in _every(a, b, 2):
                out.write(json.dumps({"ts": ts, "user": "alice", "provider": "openai", "model": "gpt-4o",
                                      "prompt_tokens": 100, "completion_tokens": 50}) + "\n")
    result = subprocess.run([sys.executable, "-m", "tokentop", "check", "--json", str(log)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    alerts = json.loads(result.stdout)["alerts"]
    assert [(a["rule"], a["subject"]) for a in alerts] == [("logging_stopped", "source=gw.jsonl")]
