"""What ``visible`` escapes: every character of the Unicode categories Cc, Cf, Zl, Zp and Cs."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from tokentop.core.sanitize import UNSAFE_RANGES, visible

ESCAPED = ("Cc", "Cf", "Zl", "Zp", "Cs")


def test_the_ranges_are_exactly_the_categories_of_this_python():
    listed = {cp for lo, hi in UNSAFE_RANGES for cp in range(lo, hi + 1)}
    wanted = {cp for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp)) in ESCAPED}
    assert listed == wanted, (sorted(wanted - listed)[:10], sorted(listed - wanted)[:10])


@pytest.mark.parametrize("raw, shown", [
    ("a\tb", "a\\x09b"),                       # TAB: it moved the cursor and misaligned tables
    ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),  # OSC: window title
    ("\x9b2J", "\\x9b2J"),                     # C1 CSI
    ("x\u202ey", "x\\u202ey"),                 # right-to-left override (Trojan Source)
    ("ad\u200dmin", "ad\\u200dmin"),           # zero-width joiner
    ("a\u2028b", "a\\u2028b"),                 # line separator
    ("\ud800", "\\ud800"),                     # a lone surrogate could not be written as UTF-8
    ("tag\U000e0041", "tag\\U000e0041"),        # tag characters
    ("café 東京 ✓ [b]x[/b]", "café 東京 ✓ [b]x[/b]"),  # printable text (and markup) as it is
])
def test_escapes(raw, shown):
    assert visible(raw) == shown
    visible(raw).encode("utf-8")
