"""Keep bearer tokens and API keys out of everything tokentop shows or logs.

A secret can reach text four ways: the token itself (echoed in an error), a URL's userinfo
(``https://user:pw@host``), a key in the query (``?api_key=...``), and httpx's own log lines (its INFO
line prints the full URL). ``redact`` handles the first three; ``RedactingFilter`` is attached to the
httpx/httpcore loggers so their records pass through ``redact`` before any handler sees them.

A token rarely reaches text as it was given: an error message quotes it as ``repr`` of the header
bytes (``b'Bearer abc\\r'``), a URL percent-encodes it, a log or JSON document escapes it. So what is
remembered is every form of the token such text can hold (:func:`forms`), and each is masked.
Tokens are checked before first use (:func:`header_problem`): one that cannot be sent in an HTTP
header is refused at start with an error naming its variable, never its value.
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

from tokentop.core.sanitize import visible

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


_PERCENT = re.compile("%[0-9A-F]{2}")
_HEADER_SAFE = re.compile("[\x21-\x7e]+")
"""What a token may hold: visible ASCII (RFC 9110 VCHAR), so it can be sent in a header as it is."""


def header_problem(token: str) -> str | None:
    """Why ``token`` cannot be sent in an HTTP header (None: it can). Never quotes the token."""
    if _HEADER_SAFE.fullmatch(token):
        return None
    if "\r" in token or "\n" in token:
        body = token.rstrip("\r\n")
        where = "at the end" if body and "\r" not in body and "\n" not in body else "inside"
        return (f"it holds a line break {where} (a file saved with Windows line endings, or an unstripped "
                "newline, leaves one)")
    if any(c in " \t" for c in token):
        return "it holds a space or a tab"
    if any(ord(c) > 0x7E for c in token):
        return "it holds a non-ASCII character (an HTTP header carries ASCII only)"
    return "it holds a control character"


def forms(secret: str) -> set[str]:
    """Every spelling of ``secret`` that text derived from it may hold: as given; as ``repr`` of the
    string and of its UTF-8 bytes (error messages quote header bytes); JSON-escaped; percent-encoded
    (upper and lower case hex, ``+`` or ``%20`` for spaces); ``unicode_escape``d; and as tokentop
    displays it (``visible``). Masking all of them keeps every derived text free of the token."""
    utf8 = secret.encode("utf-8", "surrogateescape")
    spelled = {
        secret, repr(secret)[1:-1], repr(utf8)[2:-1], json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1], secret.encode("unicode_escape").decode("ascii"),
        visible(secret), quote(secret, safe=""), quote(secret), quote_plus(secret),
    }
    spelled |= {_PERCENT.sub(lambda m: m.group().lower(), s) for s in spelled if "%" in s}
    return {s for s in spelled if len(s) >= 4}


def remember(secret: str | None) -> None:
    if secret and len(secret) >= 4:
        _known.update(forms(secret))
        install_log_filter()


def redact(text: str, secrets: set[str] | None = None) -> str:
    """``text`` with tokens (in any of their :func:`forms`), URL passwords and key-like query values
    replaced by ``***``."""
    extra = set().union(*(forms(s) for s in secrets if s)) if secrets else set()
    for secret in sorted(_known | extra, key=len, reverse=True):  # longest first: a form holding another
        if secret in text:
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
