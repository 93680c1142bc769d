"""Make untrusted text (model names, user ids, log lines) safe to put on a terminal.

Every control character (C0 including TAB, DEL, C1), every invisible formatting character (the bidi
embeddings, overrides and isolates of "Trojan Source", zero-width joiners and spaces, the soft
hyphen, tag characters), the line and paragraph separators and lone surrogates are replaced by
visible escapes such as ``\\x09``, ``\\x1b`` or ``\\u202e``. That is every character of the Unicode
categories Cc, Cf, Zl, Zp and Cs: the ranges below are that set for Unicode 14 (Python 3.11), and
tests/core/test_sanitize.py checks them against ``unicodedata`` of the running Python.

TAB is escaped too: a raw TAB moves the cursor to the next tab stop, which misaligns a column of
text and lets stale characters show through in a terminal table. A lone surrogate (JSON allows
``"\\ud800"``) cannot be encoded as UTF-8: escaped, it can no longer crash an output stream.

The raw value is kept for grouping and export; only what is displayed goes through here.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

UNSAFE_RANGES: Final = (
    (0x0000, 0x001F), (0x007F, 0x009F), (0x00AD, 0x00AD), (0x0600, 0x0605), (0x061C, 0x061C),
    (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891), (0x08E2, 0x08E2), (0x180E, 0x180E),
    (0x200B, 0x200F), (0x2028, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F), (0xD800, 0xDFFF),
    (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
)
"""Code point ranges escaped for display: Unicode categories Cc, Cf, Zl, Zp and Cs."""

_UNSAFE = re.compile("[" + "".join(
    re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in UNSAFE_RANGES
) + "]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


@lru_cache(maxsize=4096)
def visible(text: str, limit: int | None = None) -> str:
    """``text`` with every control or invisible formatting character shown as an escape.

    ``limit`` truncates the result (with an ellipsis) for table cells.
    """
    safe = _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text
    if limit is not None and len(safe) > limit:
        return safe[: max(limit - 1, 0)] + "…"
    return safe


def has_unsafe(text: str) -> bool:
    """Whether :func:`visible` would change ``text`` (before any truncation)."""
    return _UNSAFE.search(text) is not None
