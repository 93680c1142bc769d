"""The raw line kept for the detail view, with credentials masked: a secret is never shown."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from tokentop.core.fields import SECRET_FIELDS


def redacted_line(line: bytes, record: Mapping[str, Any]) -> bytes:
    """The line as read, or re-encoded with credentials masked when it carries any (top level or in
    ``metadata``). Checking the decoded keys keeps the common, key-free line free of extra work."""
    # keys().isdisjoint iterates over the smaller side: the handful of secret names, not the record.
    metadata = record.get("metadata")
    if record.keys().isdisjoint(SECRET_FIELDS) and not (
        isinstance(metadata, Mapping) and not metadata.keys().isdisjoint(SECRET_FIELDS)
    ):
        return line
    cleaned = _mask(record)
    if isinstance(metadata, Mapping):
        cleaned["metadata"] = _mask(metadata)
    return orjson.dumps(cleaned)


def _mask(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k in SECRET_FIELDS and v else v) for k, v in record.items()}
