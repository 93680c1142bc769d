"""The one number formatter (tables, alert messages, details, notices all read numbers through it)."""

from __future__ import annotations

from tokentop.core import numbers


def test_counts_at_a_glance_and_exact():
    assert numbers.count(999) == "999"
    assert numbers.count(12_345) == "12,345"
    assert numbers.count(337_488) == "337,488"
    assert numbers.count(1_234_567) == "1.23M"
    assert numbers.count(4.5e9) == "4.50G"
    assert numbers.count(2.5) == "2.5"
    assert numbers.count(1_234_567, exact=True) == "1,234,567"
    assert numbers.tokens(1) == "1 token" and numbers.tokens(337_488) == "337,488 tokens"
    assert numbers.requests(1_045) == "1,045 requests"


def test_rates():
    assert numbers.rate(7_919_409, " tokens/h") == "7.92M tokens/h"
    assert numbers.rate(42_551.4, " tokens/min") == "42,551 tokens/min"
    assert numbers.rate(2.46, "/s") == "2.5/s"
    assert numbers.rate(0.0, "/s") == "0/s"


def test_durations_keep_two_units_and_never_round_up():
    assert numbers.duration(159) == "2m39s"  # not "3 min"
    assert numbers.duration(159.9) == "2m39s"
    assert numbers.duration(120) == "2m"
    assert numbers.duration(45) == "45s"
    assert numbers.duration(2.25) == "2.2s"
    assert numbers.duration(0.3) == "0.3s"
    assert numbers.duration(0.01) == "<0.1s"  # not "0 s"
    assert numbers.duration(0) == "0s"
    assert numbers.duration(-5) == "0s"
    assert numbers.duration(3 * 3600 + 5 * 60 + 59) == "3h05m"
    assert numbers.duration(2 * 86400 + 3600) == "2d01h"


def test_percentages_prices_latencies():
    assert numbers.percent(64.4) == "64%"
    assert numbers.percent(0.2) == "<1%" and numbers.percent(0) == "0%"
    assert numbers.share(0.225) == "22%"
    assert numbers.money(0.01234) == "$0.0123" and numbers.money(1234.5) == "$1,234.50"
    assert numbers.milliseconds(835.4) == "835ms" and numbers.milliseconds(15_600) == "15.6s"
