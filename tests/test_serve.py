"""``tokentop serve``: a real process receiving OTLP from the real SDK, scraped and parsed as Prometheus
would (``prometheus_client.parser``); and the exported view's cardinality bounds."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).parent / "sources"))
from otlp_support import exporter, make_spans  # noqa: E402

from tokentop.core.aggregate import Aggregator  # noqa: E402
from tokentop.core.event import UsageEvent  # noqa: E402
from tokentop.core.metrics_view import MetricsView, ViewSettings  # noqa: E402
from tokentop.core.snapshot import AlertView  # noqa: E402
from tokentop.prometheus import Exporter  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def samples(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def wait_for(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_serve_receives_otlp_and_exports_prometheus(tmp_path):
    otlp, metrics = free_port(), free_port()
    (tmp_path / "tokentop.toml").write_text(
        '[plans.tiny]\nlimit = 1000\n[users]\ndefault_plan = "tiny"\n[alerts]\ninterval = 1\n'
        '[metrics]\ntop_models = 1\n')
    log = tmp_path / "alerts.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tokentop", "serve", f"otlp://127.0.0.1:{otlp}", "--metrics", f"127.0.0.1:{metrics}",
         "--interval", "0.3", "--alert-log", str(log), "--config", str(tmp_path / "tokentop.toml")],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "NO_COLOR": "1"})
    try:
        base = f"http://127.0.0.1:{metrics}"
        wait_for(lambda: httpx.get(f"{base}/healthz").status_code == 200)
        spans = make_spans([
            {"attrs": {"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o", "user.id": "ann",
                       "gen_ai.usage.input_tokens": 1500, "gen_ai.usage.output_tokens": 20,
                       "gen_ai.usage.cache_read.input_tokens": 1000}},
            {"attrs": {"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini", "user.id": "bob",
                       "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 2}},
            {"attrs": {"http.route": "/"}},
        ])
        assert exporter(f"http://127.0.0.1:{otlp}").export(spans).name == "SUCCESS"

        def scraped():
            answer = httpx.get(f"{base}/metrics")
            found = samples(answer.text)
            return found if found.get("tokentop_alert_active") else None

        found = wait_for(scraped)
        tokens = {(s["model"], s["type"]): v for s, v in found["tokentop_tokens_total"]}
        # top_models = 1: gpt-4o (more tokens) has its own series, gpt-4o-mini is summed as other
        assert tokens[("gpt-4o", "input")] == 1500 and tokens[("gpt-4o", "cache_read")] == 1000
        assert tokens[("other", "input")] == 10 and tokens[("other", "output")] == 2
        requests = {(s["model"], s["token_source"]): v for s, v in found["tokentop_requests_total"]}
        assert requests[("gpt-4o", "actual")] == 1 and requests[("other", "actual")] == 1
        assert [(s["reason"], v) for s, v in found["tokentop_skipped_records_total"]] == [("no_usage", 2)]
        users = {s["user"]: v for s, v in found["tokentop_user_period_tokens"]}
        assert users == {"ann": 1520, "bob": 12}
        assert {s["user"]: v for s, v in found["tokentop_user_limit_tokens"]} == {"ann": 1000, "bob": 1000}
        (alert, value), = found["tokentop_alert_active"]
        assert (alert["rule"], alert["severity"], value) == ("quota", "critical", 1) and "ann" in alert["subject"]
        state = {s["tokentop_source_state"]: v for s, v in found["tokentop_source_state"]}
        assert state["ok"] == 1 and state["error"] == 0
        assert json.loads(log.read_text().splitlines()[0])["event"] == "start"  # delivered as in the app
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err.decode()


def _event(model: str, tokens: int, **kw) -> UsageEvent:
    return UsageEvent(ts=1_800_000_000.0, source="s", provider="openai", model=model, prompt_tokens=tokens,
                      total_tokens=tokens, **kw)


def test_other_only_grows_when_rankings_change():
    agg = Aggregator()
    view = MetricsView(ViewSettings(top_models=2, top_users=1))
    exporter = Exporter(view, every=0.0)
    agg.add_many([_event("a", 10, user="u1"), _event("b", 5, user="u2"), _event("c", 1, user="u3")])
    exporter.update(agg, 1_800_000_000.0, [], [])
    first = samples(exporter.render().decode())
    agg.add_many([_event("c", 1000, user="u3"), _event("d", 7)])  # c now leads: it still stays in other
    exporter.update(agg, 1_800_000_000.0, [], [])
    second = samples(exporter.render().decode())

    def inputs(found):
        return {s["model"]: v for s, v in found["tokentop_tokens_total"] if s["type"] == "input"}

    assert inputs(first) == {"a": 10, "b": 5, "other": 1}
    assert inputs(second) == {"a": 10, "b": 5, "other": 1008}
    assert len({s["user"] for s, _ in second["tokentop_user_period_tokens"]}) == 2  # u1 and other


def test_alert_subjects_are_escaped_labels_and_render_is_cached():
    exporter = Exporter(MetricsView(), every=0.0)
    exporter.update(Aggregator(), 0.0, [], [AlertView("quota", "warning", 'user "x"\n{y}', "m", 0.0)])
    text = exporter.render()
    assert exporter.render() is text  # one rendering per published view
    (labels, value), = samples(text.decode())["tokentop_alert_active"]
    assert labels["subject"] == 'user "x"\n{y}' and value == 1


@pytest.mark.parametrize("text, expected", [(":9464", ("127.0.0.1", 9464)), ("0.0.0.0:1", ("0.0.0.0", 1)),
                                            ("[::1]:80", ("::1", 80))])
def test_metrics_address(text, expected):
    from tokentop.prometheus import parse_address

    assert parse_address(text) == expected


def test_metrics_table_is_checked():
    from tokentop.config import ConfigError, parse_config
    from tokentop.prometheus import view_settings

    assert view_settings(parse_config({"metrics": {"top_models": 5}})).top_models == 5
    with pytest.raises(ConfigError, match="metrics.top_user"):
        view_settings(parse_config({"metrics": {"top_user": 5}}))
    with pytest.raises(ConfigError, match="metrics.top_models"):
        view_settings(parse_config({"metrics": {"top_models": 0}}))


def test_tail_prints_spans_from_the_receiver():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tokentop", "tail", f"otlp://127.0.0.1:{port}", "--json",
                             "--exit-idle", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        spans = make_spans([{"attrs": {"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
                                       "gen_ai.usage.input_tokens": 42, "gen_ai.usage.output_tokens": 1}}])
        wait_for(lambda: listening(port))
        assert exporter(f"http://127.0.0.1:{port}").export(spans).name == "SUCCESS"
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    (line,) = out.decode().splitlines()
    event = json.loads(line)
    assert (event["prompt_tokens"], event["format"], event["source"]) == (42, "otlp", f"otlp:127.0.0.1:{port}")
    assert b"no_usage" in err  # the SDK's parent span, reported as a skip with its reason
