"""The usage endpoints tokentop understands, and turning successive counter readings into usage.

``api_user_usage`` (``GET /api/user/usage``, seed 000): ``{ok, tokensUsed, tokenLimit, percentage,
remaining, subscriptionTier, hasOwnKeys, unlimited}`` for the caller; ``tokensUsed`` is the per-period
counter. ``user_token_usage`` (``GET /user/{userId}/token-usage``, seed 001): ``{userId, totalTokens,
promptTokens, completionTokens, requestCount, dailyUsage, monthlyUsage, lastRequestAt}``;
``totalTokens`` is all-time, the period counter is this month's ``monthlyUsage`` entry. ``dashboard``
(seed 002's dashboard API): ``{tokens_used_this_month, tokens_used_total, token_limit,
token_used_percent}`` and, when the system reports it, ``last_reset_at``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from tokentop.core.event import CounterReading, SkipRecord, UsageEvent, iso
from tokentop.core.fields import count, flag, text
from tokentop.core.timeparse import parse_time
from tokentop.sources.base import UserLimit

SHAPES = ("auto", "api_user_usage", "user_token_usage", "dashboard")
SHAPE_KEYS = {"tokensUsed": "api_user_usage", "totalTokens": "user_token_usage",
              "tokens_used_this_month": "dashboard"}
"""The key that names each shape (``auto`` picks the first present)."""


class ShapeError(ValueError):
    """A JSON body that is not the usage shape expected."""


def read_body(body: Any, shape: str, source: str, user: str, at: float) -> tuple[CounterReading, UserLimit | None]:
    if not isinstance(body, Mapping):
        raise ShapeError(f"expected a JSON object, got {type(body).__name__}")
    if shape == "auto":
        shape = next((name for key, name in SHAPE_KEYS.items() if key in body), "")
        if not shape:
            keys = ", ".join(sorted(str(k) for k in body)[:8]) or "none"
            raise ShapeError(f"none of {', '.join(SHAPE_KEYS)} in the response (keys: {keys})")
    try:
        if shape == "api_user_usage":
            return _api_user_usage(body, source, user, at)
        if shape == "dashboard":
            return _dashboard(body, source, user, at)
        return _user_token_usage(body, source, user, at), None
    except SkipRecord as problem:
        raise ShapeError(str(problem)) from None


def _required(body: Mapping[str, Any], key: str) -> int:
    value = count(body.get(key), key)
    if value is None:
        raise ShapeError(f"no {key} in the response")
    return value


def _api_user_usage(body: Mapping[str, Any], source: str, user: str, at: float) -> tuple[CounterReading, UserLimit]:
    if body.get("ok") is False:
        raise ShapeError(f"the endpoint answered ok=false ({text(body.get('error')) or 'no reason given'})")
    used = _required(body, "tokensUsed")
    unlimited = flag(body.get("unlimited"))
    limit = None if unlimited else count(body.get("tokenLimit"), "tokenLimit")
    plan = text(body.get("subscriptionTier"))
    reading = CounterReading(source=source, user=user, at=at, period_tokens=used, limit=limit, plan=plan)
    return reading, UserLimit(user=user, limit=limit, plan=plan)


def _dashboard(body: Mapping[str, Any], source: str, user: str, at: float) -> tuple[CounterReading, UserLimit]:
    limit = count(body.get("token_limit"), "token_limit")
    plan = text(body.get("plan")) or text(body.get("subscription_tier"))
    reading = CounterReading(
        source=source, user=text(body.get("user_id")) or user, at=at,
        period_tokens=_required(body, "tokens_used_this_month"),
        total_tokens=count(body.get("tokens_used_total"), "tokens_used_total"),
        limit=limit, plan=plan, period_start=_time(body.get("last_reset_at")),
    )
    return reading, UserLimit(user=reading.user, limit=limit, plan=plan)


def _user_token_usage(body: Mapping[str, Any], source: str, user: str, at: float) -> CounterReading:
    last = _time(body.get("lastRequestAt"))
    period_tokens, period_start = _monthly(body.get("monthlyUsage"), at, last)
    return CounterReading(
        source=source, user=text(body.get("userId")) or user, at=at,
        total_tokens=_required(body, "totalTokens"),
        prompt_tokens=count(body.get("promptTokens"), "promptTokens"),
        completion_tokens=count(body.get("completionTokens"), "completionTokens"),
        requests=count(body.get("requestCount"), "requestCount"),
        period_tokens=period_tokens, period_start=period_start,
        last_request_at=last,
    )


def _time(value: Any) -> float | None:
    try:
        return parse_time(value)
    except (ValueError, OverflowError, OSError):
        return None


def _monthly(monthly: Any, at: float, last_request: float | None) -> tuple[int | None, float | None]:
    """This month's tokens from ``monthlyUsage`` (a list of ``{month|date|period|_id,
    totalTokens|tokens}`` entries or a ``{"YYYY-MM": tokens}`` mapping), and the month they count
    from. When this month has no entry although the last request was made this month, the system
    booked this month's usage to its latest month: that month's tally and start are returned (the
    counter was not reset). (None, None) when nothing says; this month's tally comes with no start
    (the system says it is this month's, whatever time zone its months follow)."""
    months = _month_tallies(monthly)
    this_month = _month_key(at)
    if this_month in months:
        return months[this_month], None
    if months and last_request is not None and _month_key(last_request) == this_month:
        booked = max(months)
        if booked < this_month:
            return months[booked], _month_start(booked)
    return None, None


def _month_tallies(monthly: Any) -> dict[str, int]:
    if isinstance(monthly, Mapping):
        entries = [{"month": k, "tokens": v} for k, v in monthly.items()]
    elif isinstance(monthly, list):
        entries = [e for e in monthly if isinstance(e, Mapping)]
    else:
        return {}
    out: dict[str, int] = {}
    for entry in entries:
        label = next((entry[k] for k in ("month", "date", "period", "_id") if k in entry), None)
        tokens = next((entry[k] for k in ("totalTokens", "tokens", "total_tokens") if k in entry), None)
        if isinstance(tokens, Mapping):
            tokens = tokens.get("totalTokens")
        if not isinstance(label, str) or len(label) < 7 or label[4] != "-" or not label[:4].isdigit():
            continue
        try:
            value = count(tokens, "monthlyUsage")
        except SkipRecord:
            continue
        if value is not None:
            out.setdefault(label[:7], value)  # (the first entry of a month, as before)
    return out


def _month_key(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m")


def _month_start(key: str) -> float:
    return datetime(int(key[:4]), int(key[5:7]), 1, tzinfo=timezone.utc).timestamp()


class CounterDeltas:
    """Per-user usage from a growing counter: the growth between two readings is one usage event.

    The first reading of a user is the baseline. A counter that goes down is a reset: no event, the
    new value becomes the baseline, and the reset is counted and described (``resets``, ``last_reset``);
    whether it was a legitimate period reset is for the counter rules to judge from the readings.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.previous: dict[str, CounterReading] = {}
        self.resets = 0
        self.last_reset: str | None = None

    def update(self, reading: CounterReading) -> UsageEvent | None:
        before = self.previous.get(reading.user)
        self.previous[reading.user] = reading
        now, then = _counter(reading), _counter(before)
        if before is None or now is None or then is None or now == then:
            return None
        if now < then:
            self.resets += 1
            self.last_reset = f"{reading.user}: {then} → {now} at {iso(reading.at)}"
            return None
        return UsageEvent(
            ts=reading.at, source=self.source, user=reading.user, format="endpoint", token_source="actual",
            total_tokens=now - then,
            prompt_tokens=_growth(reading.prompt_tokens, before.prompt_tokens),
            completion_tokens=_growth(reading.completion_tokens, before.completion_tokens),
        )


def _counter(reading: CounterReading | None) -> int | None:
    if reading is None:
        return None
    return reading.total_tokens if reading.total_tokens is not None else reading.period_tokens


def _growth(now: int | None, then: int | None) -> int:
    return now - then if now is not None and then is not None and now >= then else 0
