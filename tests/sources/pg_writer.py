"""A PostgreSQL writer in its own process, driven line by line from a test (stdin commands, stdout replies).

``gateway N [MONTHS_AHEAD]``: N single-row transactions into seed 003's ``usage_logs`` (created_at = now,
or the same time MONTHS_AHEAD months later, in a partition the test attached); replies with the last id.
``litellm N LATE``: N single-row transactions into ``"LiteLLM_SpendLogs"`` whose ``"startTime"`` is LATE
seconds in the past (a batched flush), request ids ``w-<counter>``. ``sql STATEMENT``. A connection
lost (a server restart) is reopened, retrying for up to 30 s, so a test can restart the server under it.
"""

from __future__ import annotations

import sys
import time

import psycopg

COUNTER = 0


def connect(conninfo: str) -> psycopg.Connection:
    deadline = time.monotonic() + 30
    while True:
        try:
            return psycopg.connect(conninfo, autocommit=True)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def run(con: psycopg.Connection, cmd: str, rest: str) -> str:
    global COUNTER
    if cmd == "gateway":
        n, *ahead = (int(x) for x in rest.split())
        shift = f" + interval '{ahead[0]} months'" if ahead else ""
        last = 0
        for _ in range(n):
            (last,) = con.execute(
                "INSERT INTO usage_logs (created_at, user_id, provider, model, prompt_tokens, completion_tokens,"
                f" total_tokens, token_source, cost, status) VALUES (clock_timestamp(){shift},"
                " '00000000-0000-0000-0000-000000000001', 'openai', 'gpt-4o', 100, 20, 120, 'actual', 0.001,"
                " 'success') RETURNING id").fetchone()
        return f"ok {last}"
    if cmd == "litellm":
        n, late = rest.split()
        for _ in range(int(n)):
            COUNTER += 1
            con.execute(
                'INSERT INTO "LiteLLM_SpendLogs" (request_id, call_type, spend, total_tokens, prompt_tokens,'
                ' completion_tokens, "startTime", "endTime", model, custom_llm_provider, metadata, status)'
                " VALUES (%s, 'acompletion', 0.01, 30, 20, 10, (clock_timestamp() at time zone 'UTC') - %s * interval"
                " '1 second', clock_timestamp() at time zone 'UTC', 'gpt-4o', 'openai', '{}', 'success')",
                (f"w-{COUNTER}", float(late)))
        return "ok"
    if cmd == "sql":
        con.execute(rest)  # type: ignore[arg-type]
        return "ok"
    raise ValueError(cmd)


def main(conninfo: str) -> None:
    con = connect(conninfo)
    for line in sys.stdin:
        cmd, _, rest = line.strip().partition(" ")
        if cmd == "quit":
            break
        while True:
            try:
                reply = run(con, cmd, rest)
                break
            except psycopg.OperationalError:
                con = connect(conninfo)  # the server went away: write again once it is back
        print(reply, flush=True)
    con.close()


if __name__ == "__main__":
    main(sys.argv[1])
