"""Keep bearer tokens and API keys out of everything tokentop shows or logs.

A secret can reach text four ways: the token itself (echoed in an error), a URL's userinfo
(``https://user:pw@host``), a key in the query (``?api_key=...``), and httpx's own log lines (its INFO
line prints the full URL). ``redact`` handles the first three; ``RedactingFilter`` is attached to the
httpx/httpcore loggers so their records pass through ``redact`` before any handler sees them.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
SENSITIVE_PARAMS = frozenset({
    "api_key", "apikey", "api-key", "key", "token", "access_token", "auth", "authorization", "password",
    "passwd", "secret", "client_secret", "sig", "signature", "session", "sessionid",
})
_QUERY_SECRET = re.compile(r"(?i)([?&;](?:%s)=)[^&#\s\"']*" % "|".join(re.escape(p) for p in SENSITIVE_PARAMS))
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s\"']*@")
_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy",
            "httpcore.socks")

_known: set[str] = set()
"""Every token any endpoint source has loaded in this process (redacted from httpx log records)."""


def remember(secret: str | None) -> None:
    if secret and len(secret) >= 4:
        _known.add(secret)
        install_log_filter()


def redact(text: str, secrets: set[str] | None = None) -> str:
    """``text`` with tokens, URL passwords and key-like query values replaced by ``***``."""
    for secret in sorted(_known | (secrets or set()), key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, MASK)
    text = _USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)
    return _QUERY_SECRET.sub(lambda m: m.group(1) + MASK, text)


def redact_url(url: str) -> str:
    """A URL safe to show: no userinfo, sensitive query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = urlencode([(k, MASK if k.lower() in SENSITIVE_PARAMS else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return redact(urlunsplit((parts.scheme, netloc, parts.path, query, "")))


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        safe = redact(message)
        if safe != message:
            record.msg, record.args = safe, None
        return True


_FILTER = RedactingFilter()


def install_log_filter() -> None:
    """Attach the filter to every logger httpx and httpcore write to (idempotent)."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
