"""Strict readers for record values: counts, money, durations, text and dotted paths.

A value of the wrong kind raises :class:`SkipRecord` with a stable reason, so a bad record is
counted and shown, never silently turned into zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import orjson

from tokentop.core.event import SkipRecord

MAX_TOKENS: Final = 100_000_000
"""More tokens than any model accepts or emits in one request: such a count is corrupt."""

_MISSING: Final = object()

SECRET_FIELDS: Final = frozenset({"api_key", "apiKey", "authorization", "Authorization", "x-api-key", "bearer_token"})
"""Fields whose value is a credential: replaced in the kept raw line, so the detail view never shows it."""


def count(value: Any, name: str) -> int | None:
    """A token count: a non-negative integer (integral floats and digit strings are accepted)."""
    if value is None:
        return None
    if type(value) is int:
        if 0 <= value <= MAX_TOKENS:
            return value
        raise SkipRecord("negative_tokens" if value < 0 else "absurd_tokens", f"{name}={value}")
    if isinstance(value, bool):
        raise SkipRecord("wrong_type", f"{name} is a boolean")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SkipRecord("not_a_number", f"{name}={value}")
        if not value.is_integer():
            raise SkipRecord("wrong_type", f"{name}={value} is not a whole number")
        return count(int(value), name)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return count(int(text), name)
        if text.startswith("-") and text[1:].isdigit():
            raise SkipRecord("negative_tokens", f"{name}={text}")
        if text.lower() in ("nan", "inf", "-inf", "infinity"):
            raise SkipRecord("not_a_number", f"{name}={text}")
        if text == "":
            return None
    raise SkipRecord("wrong_type", f"{name} is {type(value).__name__}")


def money(value: Any, name: str = "cost") -> float | None:
    """A non-negative, finite amount (USD)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise SkipRecord("wrong_type", f"{name} is a boolean")
    try:
        amount = float(value)
    except (TypeError, ValueError):
        raise SkipRecord("wrong_type", f"{name} is {type(value).__name__}") from None
    if not math.isfinite(amount):
        raise SkipRecord("not_a_number", f"{name}={value}")
    if amount < 0:
        raise SkipRecord("negative_cost", f"{name}={value}")
    return amount


def millis(value: Any, scale: float = 1.0) -> float | None:
    """A duration in milliseconds; ``scale`` converts the record's unit (1000 for seconds).

    Strings such as ``"1234ms"`` or ``"1.2s"`` are understood; anything else unreadable is dropped
    (a latency is informative, never worth skipping a usage record for).
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        for suffix, unit in (("ms", 1.0), ("s", 1000.0)):
            if text.endswith(suffix):
                text, scale = text[: -len(suffix)], unit
                break
        try:
            value = float(text)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0:
        return float(value) * scale
    return None


def text(value: Any) -> str | None:
    """A label (user, model, tag): strings as they are, numbers as their decimal form."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return None


def flag(value: Any) -> bool:
    """A boolean that gateways also write as ``"True"``/``"false"``/``1``."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "hit")
    return bool(value)


def dig(record: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """The value at a dotted path (``metadata.platform``), or ``default``."""
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return default
        node = node.get(part, _MISSING)
        if node is _MISSING:
            return default
    return node


def first(record: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """The first present, non-null value among ``keys``."""
    for key in keys:
        value = record.get(key)
        if value is not None:
            return value
    return None


def decode_object(line: bytes) -> dict[str, Any]:
    """One JSON line that must hold an object (``invalid_json`` / ``not_an_object`` otherwise)."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise SkipRecord("invalid_json", str(exc)) from None
    if not isinstance(record, dict):
        raise SkipRecord("not_an_object", type(record).__name__)
    return record


def json_object(value: Any, name: str) -> Mapping[str, Any]:
    """An object field that may arrive as a JSON string (LiteLLM's proxy holds ``metadata`` as
    ``json.dumps(...)`` until its database write; SQLite ledgers store JSON as text): the object, or
    ``{}`` when absent or not an object. A string that is not JSON is an ``invalid_json`` skip."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, (str, bytes)) and value.strip():
        try:
            decoded = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise SkipRecord("invalid_json", f"{name}: {exc}") from None
        return decoded if isinstance(decoded, Mapping) else {}
    return {}
