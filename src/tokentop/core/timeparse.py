"""Turn the many ways records write a time into UTC epoch seconds."""

from __future__ import annotations

import math
from typing import Any
from datetime import datetime, timezone

# Epoch numbers are told apart by magnitude: seconds until the year 5138, then ms, us, ns.
_MS_FROM = 1e11
_US_FROM = 1e14
_NS_FROM = 1e17
LATEST = 32_503_680_000.0
"""3000-01-01T00:00Z: later times are corrupt, and would overflow date arithmetic (period bounds)."""


def parse_time(value: object) -> float | None:
    """Epoch seconds (UTC) for an ISO 8601 string (zone optional, naive means UTC) or an epoch number
    in seconds, milliseconds, microseconds or nanoseconds (numbers or digit strings).

    Returns None for an empty value; raises ValueError for a value that is not a time, or one
    outside 1970 .. 3000.
    """
    if type(value) is str and value[4:5] == "-":  # the common case first: an ISO date, as written
        try:
            ts = _from_iso(value)
        except ValueError:
            ts = _parse(value)  # another spelling of a date
    elif value is None or value == "":
        return None
    else:
        ts = _parse(value)
    if not 0.0 <= ts < LATEST:
        raise ValueError(f"{value!r} is out of range")
    return ts


def _parse(value: object) -> float:
    kind = type(value)
    if kind is str:
        text = value.strip()  # type: ignore[attr-defined]
        if text[4:5] == "-" and text[:4].isdigit():  # a date: 2026-09-21...
            return _from_iso(text)
        if text.lstrip("-").replace(".", "", 1).isdigit():
            return _from_epoch(float(text))
        return _from_iso(text)
    if kind is float or kind is int:
        return _from_epoch(float(value))  # type: ignore[arg-type]
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(value, (int, float)):
        return _from_epoch(float(value))
    raise ValueError(f"a {type(value).__name__} is not a time")


_CACHE_LIMIT = 4096
"""Entries per cache below; ever-new keys only clear a cache, never grow it."""
_SECONDS = {f":{s:02d}": s * 1e6 for s in range(60)}
_SCALE = (0, 100_000, 10_000, 1_000, 100, 10, 1)
MINUTES: dict[str, float] = {}
"""``YYYY-MM-DD[T ]HH:MM`` -> microseconds since the epoch at that minute (UTC)."""
TAILS: dict[str, int] = {}
"""What follows the seconds (``.123Z``, ``+00:00`` ...) -> the microseconds it adds."""
ENDS: dict[str, float] = {}
"""``:SS<tail>`` without a fraction -> microseconds after the minute (at most 180 of them): with
``MINUTES``, a time in two dict lookups (the ledger's row reader looks them up inline)."""


def utc_iso(text: str) -> float | None:
    """The common ``YYYY-MM-DD[T ]HH:MM:SS[.f{1,6}][Z|+00:00]`` times, learning the caches above (a
    ledger writes a few times a minute); None for any other text (``parse_time`` reads it). As a call
    it is no faster than ``fromisoformat``: the gain is for code that looks ``MINUTES`` and ``ENDS``
    up inline and calls this on a miss (the ledger's compiled row reader). The
    result is bit-for-bit ``datetime.timestamp()``'s: whole microseconds (exact in a float below 2**53,
    which ``_minute_base`` keeps to) divided by 10**6, correctly rounded."""
    minute, second, tail = text[:16], _SECONDS.get(text[16:19]), text[19:]
    base = MINUTES.get(minute)
    if base is None and second is not None:
        base = _minute_base(minute)
        if base is not None:
            _remember(MINUTES, minute, base)
    micros = TAILS.get(tail)
    if micros is None and base is not None:
        micros = _tail_micros(tail)
        if micros is not None:
            _remember(TAILS, tail, micros)
    if base is None or second is None or micros is None:
        return None
    if tail[:1] != ".":
        _remember(ENDS, text[16:], second + micros)
    return (base + second + micros) / 1e6


def _remember(cache: dict[str, Any], key: str, value: Any) -> None:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value


def _minute_base(minute: str) -> float | None:
    """Whole microseconds since the epoch at the start of a ``YYYY-MM-DD HH:MM`` minute (UTC), or None
    when the text is not one, or outside 1970 .. 2255 (from 2255 the microseconds are not exact in a
    float): the general way then reads the whole time."""
    digits = minute[:4] + minute[5:7] + minute[8:10] + minute[11:13] + minute[14:]
    if not (len(minute) == 16 and minute.isascii() and minute[4] == minute[7] == "-" and minute[10] in "T "
            and minute[13] == ":" and digits.isdigit()):
        return None
    try:
        seconds = _from_iso(minute + ":00")
    except (ValueError, OverflowError, OSError):
        return None
    if seconds < 0.0 or seconds * 1e6 + 60e6 >= 2.0**53:
        return None
    return seconds * 1e6


def _tail_micros(tail: str) -> int | None:
    """Microseconds a time's tail after the seconds adds: ``""``, ``Z``, ``+00:00`` with an optional
    ``.f{1,6}`` before; None for any other tail."""
    zone = "Z" if tail.endswith("Z") else "+00:00" if tail.endswith("+00:00") else ""
    fraction = tail[:len(tail) - len(zone)]
    if not fraction:
        return 0
    digits = fraction[1:]
    if fraction[0] != "." or not (0 < len(digits) <= 6 and digits.isascii() and digits.isdigit()):
        return None
    return int(digits) * _SCALE[len(digits)]


def _from_epoch(number: float) -> float:
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{number!r} is not an epoch time")
    if number >= _NS_FROM:
        return number / 1e9
    if number >= _US_FROM:
        return number / 1e6
    if number >= _MS_FROM:
        return number / 1e3
    return number


def _from_iso(text: str) -> float:
    try:
        parsed = datetime.fromisoformat(text)  # 3.11+: "Z", offsets, a space for "T", any fraction
    except ValueError:
        parsed = datetime.fromisoformat(_tidy_iso(text))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _tidy_iso(text: str) -> str:
    """What older or stricter ``fromisoformat`` versions reject: more than 6 fractional digits."""
    if "." in text:
        head, _, frac = text.partition(".")
        digits = len(frac) - len(frac.lstrip("0123456789"))
        if digits > 6:
            text = f"{head}.{frac[:6]}{frac[digits:]}"
    if " " in text and "T" not in text:
        text = text.replace(" ", "T", 1)
    return text
