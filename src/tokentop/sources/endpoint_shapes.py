"""The usage endpoints tokentop understands, and turning successive counter readings into usage.

``api_user_usage`` (``GET /api/user/usage``): ``{ok, tokensUsed, tokenLimit, percentage, remaining,
subscriptionTier, hasOwnKeys, unlimited}`` for the caller; ``tokensUsed`` is the per-period counter.
``user_token_usage`` (``GET /user/{userId}/token-usage``): ``{userId, totalTokens, promptTokens,
completionTokens, requestCount, dailyUsage, monthlyUsage, lastRequestAt}``; ``totalTokens`` is all-time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from tokentop.core.event import CounterReading, SkipRecord, UsageEvent, iso
from tokentop.core.fields import count, flag, text
from tokentop.core.timeparse import parse_time
from tokentop.sources.base import UserLimit

SHAPES = ("auto", "api_user_usage", "user_token_usage")


class ShapeError(ValueError):
    """A JSON body that is not the usage shape expected."""


def read_body(body: Any, shape: str, source: str, user: str, at: float) -> tuple[CounterReading, UserLimit | None]:
    if not isinstance(body, Mapping):
        raise ShapeError(f"expected a JSON object, got {type(body).__name__}")
    if shape == "auto":
        shape = "api_user_usage" if "tokensUsed" in body else "user_token_usage" if "totalTokens" in body else ""
        if not shape:
            keys = ", ".join(sorted(str(k) for k in body)[:8]) or "none"
            raise ShapeError(f"neither tokensUsed nor totalTokens in the response (keys: {keys})")
    try:
        if shape == "api_user_usage":
            return _api_user_usage(body, source, user, at)
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


def _user_token_usage(body: Mapping[str, Any], source: str, user: str, at: float) -> CounterReading:
    try:
        last = parse_time(body.get("lastRequestAt"))
    except (ValueError, OverflowError, OSError):
        last = None
    return CounterReading(
        source=source, user=text(body.get("userId")) or user, at=at,
        total_tokens=_required(body, "totalTokens"),
        prompt_tokens=count(body.get("promptTokens"), "promptTokens"),
        completion_tokens=count(body.get("completionTokens"), "completionTokens"),
        requests=count(body.get("requestCount"), "requestCount"),
        period_tokens=_this_month(body.get("monthlyUsage"), at),
        last_request_at=last,
    )


def _this_month(monthly: Any, at: float) -> int | None:
    """This month's tokens from ``monthlyUsage``: a list of ``{month|date|period|_id, totalTokens|tokens}``
    entries or a ``{"YYYY-MM": tokens}`` mapping. None when the month is not there."""
    month = datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m")
    if isinstance(monthly, Mapping):
        entries = [{"month": k, "tokens": v} for k, v in monthly.items()]
    elif isinstance(monthly, list):
        entries = [e for e in monthly if isinstance(e, Mapping)]
    else:
        return None
    for entry in entries:
        label = next((entry[k] for k in ("month", "date", "period", "_id") if k in entry), None)
        if isinstance(label, str) and label.startswith(month):
            tokens = next((entry[k] for k in ("totalTokens", "tokens", "total_tokens") if k in entry), None)
            if isinstance(tokens, Mapping):
                tokens = tokens.get("totalTokens")
            try:
                return count(tokens, "monthlyUsage")
            except SkipRecord:
                return None
    return None


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
