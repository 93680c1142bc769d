"""Where a ``postgres`` source connects, as libpq spells it, and how that is shown without the password.

A source is a libpq URL (``postgresql://user@host:5432/db?table=usage_logs&sslmode=require``;
``postgres://`` too) or a ``key=value`` conninfo string, plus the TLS and connection options libpq
knows (``sslmode``, ``sslrootcert``, ...). tokentop's own parameters (``table``, ``preset``) are taken out
of the URL before libpq sees it. The password is never needed here: libpq reads ``PGPASSWORD``,
``~/.pgpass`` (``passfile``) and the service file itself, and ``password_env`` names a variable holding
it. Whatever the source, :attr:`Dsn.shown` never contains it, and :meth:`Dsn.scrub` removes it from
any text (a server or driver message) before tokentop shows or logs it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

LIBPQ_OPTIONS: Final = frozenset({
    "host", "hostaddr", "port", "dbname", "user", "passfile", "service", "connect_timeout",
    "sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "sslcrldir", "sslpassword", "sslsni",
    "sslcompression", "ssl_min_protocol_version", "ssl_max_protocol_version", "sslnegotiation",
    "gssencmode", "krbsrvname", "target_session_attrs", "channel_binding", "require_auth",
    "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout"})
"""libpq connection parameters a config may set next to ``dsn`` (TLS as libpq spells it)."""
OWN_URL_PARAMETERS: Final = ("table", "preset")


class DsnError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Dsn:
    params: Mapping[str, str]
    """libpq parameters, the password included when one was given (never shown)."""
    own: Mapping[str, str] = field(default_factory=dict)
    """tokentop's parameters taken out of the URL (``table``, ``preset``)."""

    @property
    def shown(self) -> str:
        """``postgresql://user@host:port/db`` (what libpq would use where it is not said), no password."""
        p = self.params
        user = p.get("user") or os.environ.get("PGUSER", "")
        host = p.get("host") or p.get("hostaddr") or os.environ.get("PGHOST", "localhost")
        port = p.get("port") or os.environ.get("PGPORT", "")
        db = p.get("dbname") or os.environ.get("PGDATABASE", "") or user
        service = f" (service {p['service']})" if "service" in p else ""
        return f"postgresql://{user + '@' if user else ''}{host}{':' + port if port else ''}/{db}{service}"

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(v for k, v in self.params.items() if k in ("password", "sslpassword") and v)

    def scrub(self, text: str) -> str:
        """``text`` with every secret of this DSN replaced by ``***``."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def connect_kwargs(self) -> dict[str, str]:
        return dict(self.params)


def parse(dsn: str, options: Mapping[str, Any] | None = None, environ: Mapping[str, str] = os.environ) -> Dsn:
    """A Dsn from a URL or conninfo string and the config's libpq options (``password_env`` read now)."""
    from psycopg.conninfo import conninfo_to_dict  # (the driver is imported when a postgres source is made)

    own: dict[str, str] = {}
    if dsn.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(dsn)
        query = parse_qsl(parts.query, keep_blank_values=True)
        own = {k: v for k, v in query if k in OWN_URL_PARAMETERS}
        rest = urlencode([(k, v) for k, v in query if k not in OWN_URL_PARAMETERS])
        dsn = urlunsplit(parts._replace(query=rest))
    try:
        params = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    except Exception as exc:  # psycopg.ProgrammingError: its text may quote the DSN, password included
        raise DsnError("not a valid libpq URL or conninfo string") from exc
    options = options or {}
    for key, value in options.items():
        if key in LIBPQ_OPTIONS:
            params[key] = str(value)
    env = options.get("password_env")
    if env is not None:
        password = environ.get(str(env))
        if password is None:
            raise DsnError(f"password_env: the variable {env} is not set")
        params["password"] = password
    return Dsn(params, own)
