"""How far back the live screen reads: the earliest moment a period, window or alert needs."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from tokentop.core.alerts.settings import parse_alert_settings
from tokentop.core.periods import Period
from tokentop.core.plans import Plan, PlanBook
from tokentop.core.readback import alert_lookback, history_start

NOW = datetime(2026, 12, 7, 15, 30, tzinfo=timezone.utc).timestamp()
DEFAULT_ALERTS = parse_alert_settings({})


def test_the_monthly_billing_period_starts_the_read_back() -> None:
    assert history_start(PlanBook(), DEFAULT_ALERTS, NOW) == datetime(2026, 12, 1, tzinfo=timezone.utc).timestamp()


def test_each_plan_period_in_its_own_time_zone() -> None:
    plans = PlanBook(plans={"pro": Plan("pro", 100, Period.parse("month", "Pacific/Auckland"))},
                     billing_period=Period.parse("day", "UTC"))
    # 1 December in Auckland is 30 November 11:00 UTC: earlier than the billing day and 24 h
    assert history_start(plans, DEFAULT_ALERTS, NOW) == datetime(2026, 12, 1, tzinfo=ZoneInfo("Pacific/Auckland")).timestamp()


def test_a_daily_billing_period_still_reads_the_24_hour_window() -> None:
    plans = PlanBook(plans={"burst": Plan("burst", 100, Period.parse("rolling 5h"))},
                     billing_period=Period.parse("day", "UTC"))
    assert history_start(plans, DEFAULT_ALERTS, NOW) == NOW - 86400


def test_a_rolling_plan_longer_than_a_day_reads_its_hours() -> None:
    plans = PlanBook(plans={"week": Plan("week", 100, Period.parse("rolling 168h"))},
                     billing_period=Period.parse("day", "UTC"))
    assert history_start(plans, DEFAULT_ALERTS, NOW) == NOW - 168 * 3600


def test_an_alert_baseline_longer_than_everything_else_counts_unless_disabled() -> None:
    plans = PlanBook(billing_period=Period.parse("day", "UTC"))
    long = {"accuracy_drop": {"baseline_window": 3 * 86400}}
    assert alert_lookback(DEFAULT_ALERTS) == 86400  # logging_stopped weighs the day's gaps
    assert history_start(plans, parse_alert_settings(long), NOW) == NOW - 3 * 86400
    off = {"accuracy_drop": {"baseline_window": 3 * 86400, "enabled": False}}
    assert history_start(plans, parse_alert_settings(off), NOW) == NOW - 86400
