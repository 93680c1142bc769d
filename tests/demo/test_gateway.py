"""The running gateway, read back with the standard library only: the JSONL log, the WAL ledger (from
another connection while it is written), and the HTTP endpoint on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest

from tokentop.core.timeparse import parse_time
from tokentop.demo.catalogue import PLAN_LIMITS, USERS_BY_ID
from tokentop.demo.gateway import Gateway
from tokentop.demo.scenario import PHASES, simulated_start

SPEED = 120.0
START = simulated_start(1_790_000_000.0)


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


@pytest.fixture(scope="module")
def run():
    """One gateway run past the end of every phase, with what was read while it ran."""
    seen: dict = {}
    with Gateway(speed=SPEED, start=START, history=30, tick=0.02) as gateway:
        seen["dir"], seen["port"] = gateway.dir, gateway._endpoint.port  # noqa: SLF001
        reader = sqlite3.connect(f"file:{gateway.ledger_path}?mode=ro", uri=True)
        seen["journal_mode"] = reader.execute("PRAGMA journal_mode").fetchone()[0]
        reader.execute("BEGIN")  # a long read transaction must not stop the writer
        seen["rows_in_open_read"] = reader.execute("SELECT count(*) FROM usage_logs").fetchone()[0]
        # `written` grows only after a commit, so this waits for rows committed after the snapshot was
        # taken (a count of `written` read here could predate the history's commit by a moment)
        wait_for(lambda: gateway._ledger.written > seen["rows_in_open_read"] + 20)  # noqa: SLF001
        seen["rows_same_snapshot"] = reader.execute("SELECT count(*) FROM usage_logs").fetchone()[0]
        reader.execute("COMMIT")
        seen["rows_after"] = reader.execute("SELECT count(*) FROM usage_logs").fetchone()[0]
        wait_for(lambda: gateway.clock.offset() >= 70)
        seen["during"] = {u: get(f"{gateway.endpoint_url}/api/user/usage?user={u}")[1] for u in ("bob", "alice")}
        seen["bob_months_during"] = get(f"{gateway.endpoint_url}/user/bob/token-usage")[1]["monthlyUsage"]
        wait_for(lambda: gateway.clock.offset() >= PHASES["counter_not_reset"].stop + 5)
        seen["after"] = {u: get(f"{gateway.endpoint_url}/api/user/usage?user={u}")[1] for u in ("bob", "alice")}
        seen["http"] = {path: get(gateway.endpoint_url + path) for path in (
            "/user/carol/token-usage", "/api/user/usage?user=carol", "/api/users", "/api/user/usage",
            "/user/nobody/token-usage", "/nothing")}
        gateway.stop_traffic()
        seen["summary"] = gateway.summary()
        reader.close()
        ledger_path, log_path = gateway.ledger_path, gateway.log_path
        wait_for(lambda: gateway._ledger.written == gateway.written["ledger"])  # noqa: SLF001
        with sqlite3.connect(f"file:{ledger_path}?mode=ro", uri=True) as conn:
            conn.row_factory = sqlite3.Row
            seen["rows"] = [dict(r) for r in conn.execute("SELECT * FROM usage_logs ORDER BY id")]
        seen["log"] = [json.loads(line) for line in log_path.read_bytes().splitlines()]
        seen["gateway"] = gateway
    return seen


def offset_of(ts_value) -> float:
    return parse_time(ts_value) - START


def rows_in(rows, lo, hi, **match):
    return [r for r in rows if lo <= offset_of(r["created_at"]) < hi and all(r[k] == v for k, v in match.items())]


def test_ledger_is_wal_and_readable_by_another_connection_while_written(run):
    assert run["journal_mode"] == "wal"
    assert run["rows_same_snapshot"] == run["rows_in_open_read"]  # a consistent snapshot ...
    assert run["rows_after"] > run["rows_in_open_read"]  # ... while the writer kept committing


def test_every_request_is_logged_and_timestamps_follow_simulated_time(run):
    log = run["log"]
    assert len(log) == run["summary"]["written"]["log"]
    offsets = [offset_of(r.get("timestamp") or r.get("createdAt") or r.get("ts")) for r in log]
    assert offsets == sorted(offsets)
    assert offsets[0] >= -30 and offsets[-1] >= PHASES["counter_not_reset"].stop
    assert {("user_id" in r, "userId" in r, "usage" in r) for r in log} == {
        (True, False, False), (False, True, False), (False, False, True)}


def test_untracked_provider_never_reaches_the_ledger_during_its_slot(run):
    p = PHASES["untracked_provider"]
    assert p.in_history  # the bug predates the demo (seed 000): the history lacks deepseek rows too
    assert not rows_in(run["rows"], -30, p.stop, provider="deepseek")
    assert rows_in(run["rows"], p.stop, 1e9, provider="deepseek")  # the fix
    assert any(r.get("provider") == "deepseek" and p.start <= offset_of(r["timestamp"]) < p.stop
               for r in run["log"] if "timestamp" in r)


def test_instagram_logging_stops_in_the_ledger_not_in_the_gateway_log(run):
    p = PHASES["logging_stopped"]

    def instagram(rows, lo, hi):
        return [r for r in rows_in(rows, lo, hi) if json.loads(r["metadata"])["platform"] == "instagram"]

    assert not instagram(run["rows"], p.start, p.stop)
    assert instagram(run["rows"], -30, p.start) and instagram(run["rows"], p.stop, 1e9)
    in_log = [r for r in run["log"] if r.get("metadata", {}).get("platform") == "instagram"
              and p.start <= offset_of(r["createdAt"]) < p.stop]
    assert len(in_log) > 10


def test_null_providers_mismatched_totals_and_estimates_in_their_slots(run):
    rows = run["rows"]
    for phase_id, model, bad in (
        ("null_provider", "llama-3.3-70b-versatile", lambda r: r["provider"] is None),
        ("totals_mismatch", "gemini-2.5-flash",
         lambda r: r["total_tokens"] != r["prompt_tokens"] + r["completion_tokens"]),
        ("estimated_counts", "qwen/qwen3-coder", lambda r: r["token_source"] == "estimated"),
    ):
        p = PHASES[phase_id]
        inside = [r for r in rows_in(rows, p.start, p.stop, model=model) if r["total_tokens"]]
        outside = rows_in(rows, -30, p.start, model=model) + rows_in(rows, p.stop, 1e9, model=model)
        assert inside and all(bad(r) for r in inside), phase_id
        assert outside and not any(bad(r) for r in outside), phase_id


def test_the_free_user_races_towards_her_limit(run):
    p = PHASES["quota_race"]
    race = sum(r["total_tokens"] for r in rows_in(run["rows"], p.start, p.stop, user_id="dana"))
    before = sum(r["total_tokens"] for r in rows_in(run["rows"], -30, p.start, user_id="dana"))
    assert race > 0.6 * PLAN_LIMITS["free"]
    assert race > 20 * max(before, 1)


def test_bobs_monthly_counter_does_not_reset_until_the_fix(run):
    opening = USERS_BY_ID["bob"].opening_tokens
    assert run["during"]["bob"]["tokensUsed"] > opening  # kept growing past the boundary
    assert run["during"]["alice"]["tokensUsed"] < USERS_BY_ID["alice"].opening_tokens  # reset
    assert len(run["bob_months_during"]) == 1
    assert run["after"]["bob"]["tokensUsed"] < opening


def test_http_serves_both_shapes_on_loopback_only(run):
    http = run["http"]
    status, doc = http["/user/carol/token-usage"]
    assert status == 200 and doc["userId"] == "carol" and doc["requestCount"] > 0 and doc["lastRequestAt"]
    status, doc = http["/api/user/usage?user=carol"]
    assert status == 200 and doc["ok"] and doc["subscriptionTier"] == "team" and not doc["unlimited"]
    assert http["/api/users"] == (200, {"users": list(USERS_BY_ID)})
    assert http["/api/user/usage"][0] == 400
    assert http["/user/nobody/token-usage"][0] == 404 and http["/nothing"][0] == 404


def test_the_server_listens_on_127_0_0_1_only():
    with Gateway(speed=1, start=START, history=0) as gateway:
        server = gateway._endpoint._server  # noqa: SLF001
        assert server.server_address[0] == "127.0.0.1"
        other = _non_loopback_address()
        if other is not None:
            with pytest.raises(OSError):
                socket.create_connection((other, gateway._endpoint.port), timeout=1).close()  # noqa: SLF001


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_the_run_left_nothing_behind(run):
    assert not run["dir"].exists()
    assert run["summary"]["error"] is None and run["summary"]["ledger_errors"] is None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", run["port"]), timeout=1).close()
