"""Billing periods in real time zones (DST, year end), plans, limits, burn rate and exhaustion."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tokentop.core.aggregate import Aggregator
from tokentop.core.periods import Period
from tokentop.core.plans import Plan, PlanBook, Standing

from .helpers import event


def at(text: str, tz: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


@pytest.mark.parametrize("tz", ["America/New_York", "Europe/Paris", "Asia/Kolkata", "UTC"])
def test_calendar_month_in_a_time_zone(tz: str) -> None:
    month = Period.parse("month", tz)
    start, end = month.bounds(at("2026-06-15T12:00", tz))
    assert (start, end) == (at("2026-06-01T00:00", tz), at("2026-07-01T00:00", tz))


def test_month_rolls_over_exactly_at_local_midnight() -> None:
    month = Period.parse("month", "America/New_York")
    midnight = at("2026-07-01T00:00", "America/New_York")  # 04:00 UTC
    assert month.bounds(midnight - 0.001)[1] == midnight
    assert month.bounds(midnight)[0] == midnight
    assert month.bounds(at("2026-07-01T03:59", "UTC"))[0] == at("2026-06-01T00:00", "America/New_York")


def test_month_containing_a_dst_change() -> None:
    paris = Period.parse("month", "Europe/Paris")
    start, end = paris.bounds(at("2026-03-20T12:00", "Europe/Paris"))  # DST starts 2026-03-29
    assert end - start == 31 * 86400 - 3600
    start, end = paris.bounds(at("2026-10-20T12:00", "Europe/Paris"))  # DST ends 2026-10-25
    assert end - start == 31 * 86400 + 3600
    ny = Period.parse("month", "America/New_York")
    start, end = ny.bounds(at("2026-11-20T12:00", "America/New_York"))  # DST ends 2026-11-01
    assert (start, end - start) == (at("2026-11-01T00:00", "America/New_York"), 30 * 86400 + 3600)


@pytest.mark.parametrize(("day", "hours"), [("2026-03-29", 23), ("2026-10-25", 25), ("2026-06-01", 24)])
def test_day_periods_of_23_and_25_hours(day: str, hours: int) -> None:
    daily = Period.parse("day", "Europe/Paris")
    start, end = daily.bounds(at(f"{day}T12:00", "Europe/Paris"))
    assert start == at(f"{day}T00:00", "Europe/Paris")
    assert end - start == hours * 3600


def test_december_to_january() -> None:
    month = Period.parse("monthly", "Europe/Paris")
    start, end = month.bounds(at("2026-12-31T23:59:59", "Europe/Paris"))
    assert (start, end) == (at("2026-12-01T00:00", "Europe/Paris"), at("2027-01-01T00:00", "Europe/Paris"))
    assert month.bounds(end)[0] == end


def test_rolling_hours() -> None:
    rolling = Period.parse("rolling 5h")
    assert rolling.kind == "rolling" and rolling.hours == 5 and rolling.label == "rolling 5h"
    assert rolling.bounds(100_000.0) == (100_000.0 - 5 * 3600, 100_000.0)
    assert Period.parse("rolling:24h").hours == 24
    assert Period.parse("Rolling 1 hours").hours == 1


@pytest.mark.parametrize("spec", ["weekly", "rolling 0h", "rolling -5h", "rolling", "5h", ""])
def test_bad_period(spec: str) -> None:
    with pytest.raises(ValueError, match="period"):
        Period.parse(spec)


def test_bad_time_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        Period.parse("month", "Mars/Olympus")


def book(**kw) -> PlanBook:
    tz = kw.pop("tz", "UTC")
    plans = {
        "free": Plan("free", 1000, Period.parse("month", tz)),
        "pro": Plan("pro", 100_000, Period.parse("month", tz)),
        "burst": Plan("burst", 500, Period.parse("rolling 5h", tz)),
        "unlimited": Plan("unlimited", None, Period.parse("month", tz)),
    }
    return PlanBook(plans, kw.pop("assignments", {}), kw.pop("default_plan", None), Period.parse("month", tz))


def test_user_to_plan_map_and_default_plan() -> None:
    plans = book(assignments={"alice": "pro"}, default_plan="free")
    assert plans.plan_for("alice").name == "pro"
    assert plans.plan_for("bob").name == "free"
    assert book().plan_for("bob") is None


def test_period_usage_resets_at_the_boundary_in_the_users_time_zone() -> None:
    tz = "America/New_York"
    agg = Aggregator(book(tz=tz, default_plan="free"))
    midnight = at("2026-07-01T00:00", tz)
    agg.add(event(midnight - 60, user="u", prompt_tokens=600, completion_tokens=0))
    before = agg.standings(midnight - 1)["u"]
    assert (before.period_tokens, before.limit, before.plan) == (600, 1000, "free")
    agg.add(event(midnight + 60, user="u", prompt_tokens=50, completion_tokens=0))
    after = agg.standings(midnight + 120)["u"]
    assert after.period_tokens == 50
    assert after.period_start == midnight
    # The burn rate just after the reset ignores last period's usage.
    assert after.burn_rate_per_hour == pytest.approx(50 * 3600 / 120)
    # The period window of the billing period resets too; all-time does not.
    assert agg.totals("period", midnight + 120).total_tokens == 50
    assert agg.totals("all", midnight + 120).total_tokens == 650


def test_rolling_plan_usage_slides() -> None:
    agg = Aggregator(book(assignments={"u": "burst"}))
    t0 = 1_790_000_000.0
    agg.add(event(t0, user="u", prompt_tokens=300, completion_tokens=0))
    agg.add(event(t0 + 3 * 3600, user="u", prompt_tokens=100, completion_tokens=0))
    assert agg.standings(t0 + 3 * 3600)["u"].period_tokens == 400
    assert agg.standings(t0 + 6 * 3600)["u"].period_tokens == 100


def test_limit_percent_burn_rate_and_projection() -> None:
    agg = Aggregator(book(assignments={"u": "free"}))
    now = 1_790_000_400.0
    for i in range(10):  # 400 tokens over the last 10 minutes
        agg.add(event(now - 600 + i * 60, user="u", prompt_tokens=40, completion_tokens=0))
    s = agg.standings(now)["u"]
    assert (s.limit, s.period_tokens, s.percent) == (1000, 400, 40.0)
    assert now - s.period_start > 3600
    assert s.burn_rate_per_hour == pytest.approx(400.0)  # tokens of the last hour, per hour
    projected = s.projected_exhaustion(now)
    assert projected is not None and now < projected < s.period_end
    assert projected == pytest.approx(now + 600 / s.burn_rate_per_hour * 3600)


def test_projection_after_the_period_end_is_none_and_over_the_limit_is_now() -> None:
    now = 1_000.0
    slow = Standing("p", 1000, 100, 0.0, 2000.0, burn_rate_per_hour=10.0)
    assert slow.projected_exhaustion(now) is None
    fast = Standing("p", 1000, 100, 0.0, 2000.0, burn_rate_per_hour=3600.0)
    assert fast.projected_exhaustion(now) == now + 900
    over = Standing("p", 1000, 1000, 0.0, 2000.0, burn_rate_per_hour=0.0)
    assert over.projected_exhaustion(now) == now and over.percent == 100.0
    idle = Standing("p", 1000, 10, 0.0, 2000.0, burn_rate_per_hour=0.0)
    assert idle.projected_exhaustion(now) is None
    unlimited = Standing(None, None, 10**9, 0.0, 2000.0, burn_rate_per_hour=1e9)
    assert unlimited.projected_exhaustion(now) is None and unlimited.percent is None


def test_set_user_limit_overrides_the_configured_plan() -> None:
    agg = Aggregator(book(assignments={"u": "free"}))
    agg.add(event(1_790_000_000.0, user="u", prompt_tokens=10, completion_tokens=0))
    agg.set_user_limit("u", 50, "enterprise")
    s = agg.standings(1_790_000_010.0)["u"]
    assert (s.limit, s.plan, s.percent) == (50, "enterprise", 20.0)
    agg.set_user_limit("u", 80)
    assert agg.standings(1_790_000_010.0)["u"].plan == "free"
    agg.set_user_limit("ghost", 5)  # a user known only from a usage endpoint still has a standing
    assert agg.standings(1_790_000_010.0)["ghost"].period_tokens == 0


def test_standings_respect_the_source_filter() -> None:
    agg = Aggregator(book(default_plan="pro"))
    agg.add(event(1_790_000_000.0, user="u", source="primary", prompt_tokens=10, completion_tokens=0))
    agg.add(event(1_790_000_000.0, user="u", source="reference", prompt_tokens=1000, completion_tokens=0))
    assert agg.standings(1_790_000_010.0, lambda s: s == "primary")["u"].period_tokens == 10
    assert agg.standings(1_790_000_010.0)["u"].period_tokens == 1010


def test_a_plan_period_other_than_the_billing_period() -> None:
    tz = "Europe/Paris"
    plans = PlanBook({"daily": Plan("daily", 100, Period.parse("day", tz))}, {"u": "daily"}, None,
                     Period.parse("month", "UTC"))
    agg = Aggregator(plans)
    midnight = at("2026-06-10T00:00", tz)
    agg.add(event(midnight - 10, user="u", prompt_tokens=70, completion_tokens=0))
    late = event(midnight + 10, user="u", prompt_tokens=20, completion_tokens=0)
    agg.add(late)
    s = agg.standings(midnight + 20)["u"]
    assert (s.period_start, s.period_tokens, s.percent) == (midnight, 20, 20.0)
    assert agg.standings(midnight - 1)["u"].period_tokens == 70
    agg.remove(late)
    assert agg.standings(midnight + 20)["u"].period_tokens == 0
    assert agg.totals("period", midnight + 20).total_tokens == 70  # the billing month goes on
