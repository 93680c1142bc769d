"""Usage endpoints in ``snapshot`` and ``check`` (issue 15, point 9): one reading is enough for the
gauge, the endpoint's user is shown, and a counter still holding last month's usage is reported.

A real HTTP server on 127.0.0.1 answers with the seeds' documents (seed 000's ``GET /api/user/usage``,
seed 001's ``GET /user/{userId}/token-usage``, seed 002's dashboard).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from endpoint_server import Reply  # noqa: E402

from tokentop.cli import main  # noqa: E402

USAGE = {"ok": True, "tokensUsed": 4169, "tokenLimit": 100000, "percentage": 4, "remaining": 95831,
         "subscriptionTier": "pro", "hasOwnKeys": False, "unlimited": False}



def run(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def test_one_reading_is_enough_for_the_gauge(server, capsys):
    server.set("/api/user/usage", Reply(body=USAGE))
    url = server.base + "/api/user/usage"
    code, out = run(capsys, "snapshot", "--json", url)
    doc = orjson.loads(out)
    user = f"127.0.0.1:{server.httpd.server_address[1]}/api/user/usage"  # named after the endpoint
    assert code == 0 and list(doc["by_user"]) == [user]
    entry = doc["by_user"][user]
    assert (entry["period_tokens"], entry["limit"], entry["percent"], entry["plan"]) == (4169, 100000, 4.17, "pro")
    assert entry["requests"] == 0  # no usage event yet: the first reading is a baseline
    code, out = run(capsys, "snapshot", url)
    assert "By user" in out and "4169" in out and "100000" in out and "4.2%" in out


def test_a_configured_user_names_the_endpoints_gauge(server, capsys, tmp_path):
    server.set("/api/user/usage", Reply(body=USAGE))
    (tmp_path / "t.toml").write_text(f'[sources.app]\nkind = "http"\nurl = "{server.base}/api/user/usage"\n'
                                     'user = "alice"\n')
    doc = orjson.loads(run(capsys, "snapshot", "--json", "--config", str(tmp_path / "t.toml"))[1])
    assert doc["by_user"]["alice"]["percent"] == 4.17


def test_the_user_a_token_usage_document_names_is_shown(server, capsys):
    now = datetime.now(timezone.utc)
    server.set("/user/u-101/token-usage", Reply(body={
        "userId": "u-101", "totalTokens": 98000, "promptTokens": 70000, "completionTokens": 28000,
        "requestCount": 61, "dailyUsage": [{"date": now.strftime("%Y-%m-%d"), "tokens": 1200}],
        "monthlyUsage": [{"month": now.strftime("%Y-%m"), "tokens": 15300}], "lastRequestAt": now.isoformat()}))
    doc = orjson.loads(run(capsys, "snapshot", "--json", server.base + "/user/u-101/token-usage")[1])
    assert list(doc["by_user"]) == ["u-101"] and doc["by_user"]["u-101"]["period_tokens"] == 15300


def test_a_counter_holding_last_months_usage_raises_quota_and_counter_drift(server, capsys, tmp_path):
    """Seed 002's missed monthly reset: 132 % of the limit on the counter while the gateway log, which
    reaches back into last month, recorded a fraction of that for the user this month."""
    now = datetime.now(timezone.utc)
    start = month_start(now)
    records = []
    for ts, tokens in ((start - timedelta(days=2), 90_000), (start - timedelta(hours=3), 30_000),
                       (now - timedelta(minutes=20), 9_000), (now - timedelta(minutes=5), 3_000)):
        records.append({"timestamp": ts.isoformat(), "user": "bob", "provider": "openai", "model": "gpt-4o",
                        "prompt_tokens": tokens - 1000, "completion_tokens": 1000})
    (tmp_path / "gw.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    server.set("/api/user/usage", Reply(body={**USAGE, "tokensUsed": 132_000, "percentage": 132, "remaining": 0}))
    (tmp_path / "t.toml").write_text(
        f'[sources.gateway]\nkind = "jsonl"\npath = "{tmp_path / "gw.jsonl"}"\n'
        f'[sources.usage]\nkind = "http"\nurl = "{server.base}/api/user/usage"\nuser = "bob"\n')
    code, out = run(capsys, "check", "--json", "--config", str(tmp_path / "t.toml"))
    alerts = {(a["rule"], a["severity"]): a for a in orjson.loads(out)["alerts"]}
    assert code == 2, out
    assert "132,000 of 100,000 tokens (132% of plan pro)" in alerts[("quota", "critical")]["message"]
    drift = alerts[("counter_drift", "warning")]
    assert drift["subject"] == "source=usage user=bob"
    assert "shows 132,000 tokens this month but gateway recorded only 12,000" in drift["message"]


def test_a_monthly_tally_booked_to_last_month_is_a_missed_reset(server, capsys):
    """Seed 001's document with this month's usage added to last month's entry (the reset never ran):
    the last request was made this month, yet this month has no entry."""
    now = datetime.now(timezone.utc)
    last_month = (month_start(now) - timedelta(days=1)).strftime("%Y-%m")
    server.set("/user/bob/token-usage", Reply(body={
        "userId": "bob", "totalTokens": 410_000, "promptTokens": 300_000, "completionTokens": 110_000,
        "requestCount": 260, "dailyUsage": [], "monthlyUsage": [{"month": last_month, "tokens": 140_000}],
        "lastRequestAt": now.isoformat()}))
    code, out = run(capsys, "check", server.base + "/user/bob/token-usage")
    assert code == 1, out
    assert "counter_drift" in out and f"still counts from {last_month}-01 00:00:00Z and shows 140,000 tokens" in out
    doc = orjson.loads(run(capsys, "snapshot", "--json", server.base + "/user/bob/token-usage")[1])
    assert doc["by_user"]["bob"]["period_tokens"] == 0  # last month's tally is not this month's gauge


def test_a_dashboard_reset_before_this_month_is_a_missed_reset(server, capsys):
    """Seed 002's dashboard document with the system's own last reset time."""
    now = datetime.now(timezone.utc)
    reset = month_start(now) - timedelta(days=20)
    server.set("/api/dashboard", Reply(body={"tokens_used_this_month": 61_000, "tokens_used_total": 250_000,
                                             "token_limit": 50_000, "token_used_percent": 122,
                                             "last_reset_at": reset.isoformat()}))
    code, out = run(capsys, "check", server.base + "/api/dashboard")
    assert code == 1 and "did not reset at the start of the month" in out, out
    server.set("/api/dashboard", Reply(body={"tokens_used_this_month": 61_000, "tokens_used_total": 250_000,
                                             "token_limit": 50_000, "token_used_percent": 122,
                                             "last_reset_at": month_start(now).isoformat()}))
    code, out = run(capsys, "check", server.base + "/api/dashboard")
    assert code == 2 and "quota" in out and "counter_drift" not in out, out
