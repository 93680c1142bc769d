"""Make untrusted text (model names, user ids, log lines) safe to put on a terminal.

C0 controls (except tab), DEL, C1 controls, and the bidi / zero-width characters that can make one
name look like another are replaced by visible escapes such as ``\\x1b`` or ``\\u202e``. The raw value
is kept for grouping and export; only what is displayed goes through here.
"""

from __future__ import annotations

import re
from functools import lru_cache

_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@lru_cache(maxsize=4096)
def visible(text: str, limit: int | None = None) -> str:
    """``text`` with every control or invisible formatting character shown as an escape.

    ``limit`` truncates the result (with an ellipsis) for table cells.
    """
    safe = _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text
    if limit is not None and len(safe) > limit:
        return safe[: max(limit - 1, 0)] + "…"
    return safe
