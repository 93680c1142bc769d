"""``snapshot``, ``check`` and ``tail`` on a PostgreSQL table (a real server), whole process: the
numbers equal the table's, ``--since`` is applied by the database, and the password shows nowhere."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

from tests.pg_server import READER_PASSWORD
from tests.sources import pg_tables_sql as schemas


def run(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tokentop", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def make_gateway(db, rows: int) -> float:
    now = time.time()
    db.sql(schemas.GATEWAY)
    for statement in schemas.month_partitions(datetime.now(timezone.utc) - timedelta(days=40), 3):
        db.sql(statement)
    db.insert("usage_logs", schemas.GATEWAY_COLUMNS, list(schemas.gateway_rows(rows, now, span_days=30)))
    return now


def test_snapshot_check_tail(pg_db):
    now = make_gateway(pg_db, 3000)
    url = pg_db.dsn(password=READER_PASSWORD, table="usage_logs")  # in the URL: shown nowhere
    done = run("snapshot", "--json", url)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    (count, tokens, null_providers), = pg_db.query(
        "SELECT count(*), sum(coalesce(total_tokens, coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0))),"
        " count(*) FILTER (WHERE provider IS NULL OR provider = '') FROM usage_logs"
        " WHERE coalesce(prompt_tokens, 0) >= 0")
    assert doc["totals"]["requests"] == count and doc["totals"]["total_tokens"] == tokens
    assert null_providers > 0 and doc["sources"][0]["status"] == "ok"
    summed = re.search(r"history summed by the database \(([\d,]+) requests\)", doc["sources"][0]["detail"])
    assert summed and 1900 <= int(summed[1].replace(",", "")) <= 2000  # 3,000 rows less the newest 1,000
    since = datetime.fromtimestamp(now - 3 * 86400, timezone.utc).isoformat()
    recent_run = run("snapshot", "--json", "--since", since, url)
    recent = json.loads(recent_run.stdout)
    (count_recent,), = pg_db.query(f"SELECT count(*) FROM usage_logs WHERE coalesce(prompt_tokens, 0) >= 0"
                                   f" AND created_at >= '{since}'")
    assert recent["totals"]["requests"] == count_recent < count
    checked = run("check", "--json", url)
    assert checked.returncode in (0, 1), checked.stderr
    tailed = run("tail", "--json", "--exit-idle", "1", url)  # (from the end: nothing written since)
    assert tailed.returncode == 0 and tailed.stdout == "", tailed.stderr
    last = run("tail", "--json", "--exit-idle", "1", "--tail", "7", url)
    assert len(last.stdout.splitlines()) == 7
    everything = run("tail", "--json", "--exit-idle", "1", "--since", since, url)  # every row, none summed
    assert len(everything.stdout.splitlines()) == count_recent
    for output in (done, recent_run, checked, tailed, last, everything):
        assert READER_PASSWORD not in output.stdout + output.stderr


def test_wrong_password_in_snapshot_is_an_error_state_without_the_password(pg_db):
    make_gateway(pg_db, 10)
    done = run("snapshot", "--json", pg_db.dsn(table="usage_logs"), env={"PGPASSWORD": "Nope-Not-It-42"})
    assert done.returncode == 2
    doc = json.loads(done.stdout)
    assert "authentication failed" in doc["sources"][0]["error"]
    assert "Nope-Not-It-42" not in done.stdout + done.stderr


def test_a_source_declared_in_config_with_its_password_in_a_named_variable(pg_db, tmp_path):
    make_gateway(pg_db, 200)
    config = tmp_path / "tokentop.toml"
    config.write_text(f'[sources.ledger]\nkind = "postgres"\ndsn = "{pg_db.dsn()}"\ntable = "usage_logs"\n'
                      'password_env = "LEDGER_PGPASSWORD"\n', encoding="utf-8")
    done = run("snapshot", "--json", "--config", str(config), env={"LEDGER_PGPASSWORD": READER_PASSWORD})
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    (count,), = pg_db.query("SELECT count(*) FROM usage_logs WHERE coalesce(prompt_tokens, 0) >= 0")
    assert doc["sources"][0]["name"] == "ledger" and doc["totals"]["requests"] == count
    assert READER_PASSWORD not in done.stdout + done.stderr
