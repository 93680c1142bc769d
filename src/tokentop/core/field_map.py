"""Custom field mappings (a source's ``fields`` option, ``NormaliseOptions.field_map``): a canonical
field read from a dotted path of the record, checked like any other value of that field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokentop.core.fields import count, dig, flag, millis, money, text
from tokentop.core.formats import Fields

_COUNT_FIELDS = frozenset(
    {"prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens"}
)
_TEXT_FIELDS = frozenset({"request_id", "user", "api_key_id", "team", "platform", "endpoint", "provider", "model",
                          "status", "error"})
MAPPABLE_FIELDS = _COUNT_FIELDS | _TEXT_FIELDS | {"ts", "token_source", "cost", "latency_ms", "cache_hit"}


def apply_field_map(field_map: Mapping[str, str], record: Mapping[str, Any], fields: Fields) -> None:
    """Set each mapped field the record has (a present value overrides what the format found)."""
    for name, path in field_map.items():
        value = dig(record, path)
        if value is None:
            continue
        if name in _COUNT_FIELDS:
            fields[name] = count(value, name)
            if fields.get("token_source") == "missing":
                del fields["token_source"]  # the mapped field supplies the usage
        elif name == "cost":
            fields[name] = money(value)
        elif name == "latency_ms":
            fields[name] = millis(value)
        elif name == "cache_hit":
            fields[name] = flag(value)
        elif name == "token_source":
            fields[name] = "actual" if value == "actual" else "estimated"
        elif name == "ts":
            fields[name] = value
        else:
            fields[name] = text(value)
