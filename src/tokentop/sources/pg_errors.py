"""What went wrong talking to PostgreSQL, as a message a person can act on (never the password).

Connection failures are told apart by libpq's text (refused, authentication, unknown database, TLS);
failures of a query by SQLSTATE (missing table or column, permission, statement timeout, the server
shutting down). Every message is scrubbed of the DSN's secrets before it is shown or logged.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokentop.sources.pg_dsn import Dsn


@dataclass(frozen=True, slots=True)
class Problem:
    message: str
    reconnect: bool = False
    """The connection is gone or unusable: open a new one (with backoff)."""
    relayout: bool = False
    """The table's columns changed: read them again."""


_QUERY_STATES = {
    "42P01": ("the table went away", False, True),
    "42703": ("a column the follower reads was dropped or renamed; reading the table's columns again", False, True),
    "42501": ("permission denied", False, True),
    "57014": ("a query was cancelled (statement_timeout)", False, False),
    "57P01": ("the server is shutting down", True, False),
    "57P02": ("the server crashed", True, False),
    "57P03": ("the server is starting up", True, False),
    "25006": ("the session is read-only", False, False),
}


def problem_of(exc: BaseException, dsn: Dsn) -> Problem:
    """The Problem an exception from the driver (or anything else) stands for."""
    import psycopg

    where = dsn.shown
    text = dsn.scrub(" ".join(str(exc).split()))
    state = getattr(exc, "sqlstate", None)
    if state in _QUERY_STATES:
        what, reconnect, relayout = _QUERY_STATES[state]
        return Problem(f"{what} ({where}): {_short(text)}", reconnect, relayout)
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError, OSError)):
        return Problem(_connection_message(text, where, dsn), reconnect=True)
    if isinstance(exc, psycopg.Error):
        return Problem(f"{type(exc).__name__} from {where}: {_short(text)}", reconnect=state is None)
    return Problem(f"{type(exc).__name__}: {_short(text)} ({where})", reconnect=True)


def _connection_message(text: str, where: str, dsn: Dsn) -> str:
    lower = text.lower()
    user = dsn.params.get("user", "")
    if "connection refused" in lower:
        return f"cannot connect to {where}: connection refused (is the server running and listening there?)"
    if "password authentication failed" in lower or "no password supplied" in lower or (
            "authentication failed" in lower):
        return (f"authentication failed for user {user or '(default)'} at {where} (the password comes from"
                " PGPASSWORD, ~/.pgpass, password_env or the service file)")
    if "does not exist" in lower and "database" in lower:
        return f"database {dsn.params.get('dbname', '')!r} does not exist at {where}"
    if "timeout expired" in lower or "timed out" in lower:
        return f"cannot connect to {where}: timed out"
    if "ssl" in lower or "certificate" in lower:
        return f"TLS problem connecting to {where}: {_short(text)}"
    if "server closed the connection" in lower or "terminating connection" in lower or "consuming input failed" in lower:
        return f"connection to {where} lost (server closed it)"
    if "connection is closed" in lower or "the connection is lost" in lower:
        return f"connection to {where} lost"
    return f"cannot use {where}: {_short(text)}"


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
