"""Turn the many ways records write a time into UTC epoch seconds."""

from __future__ import annotations

import math
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
    if type(value) is float and 0.0 <= value < LATEST:  # epoch seconds already (what _parse gives them)
        return value
    if value is None or value == "":
        return None
    ts = _parse(value)
    if not 0.0 <= ts < LATEST:
        raise ValueError(f"{value!r} is out of range")
    return ts


def _parse(value: object) -> float:
    kind = type(value)
    if kind is str:
        if value[4:5] == "-":  # type: ignore[index]  # the common case first: an ISO date, as written
            try:
                parsed = datetime.fromisoformat(value)  # type: ignore[arg-type]
            except ValueError:
                pass
            else:
                return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()
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
