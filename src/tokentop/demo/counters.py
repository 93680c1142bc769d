"""The per-user usage counters the demo's endpoint serves, in the two shapes of seeds 000 and 001.

The counters are kept truthfully per UTC day and month; the ``counter_not_reset`` fault is applied
when they are read (seed 002): while it is on, bob's "this month" counter still carries last month's
tokens and his new usage is booked to last month. When the phase ends the fix recomputes the counter
from the per-month totals, as a backfill would. Each user starts with a balance already used this
month (tokentop starts watching a system that has been running for weeks).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

from tokentop.demo.catalogue import PLAN_LIMITS, USERS, User
from tokentop.demo.records import counted, iso_ms
from tokentop.demo.scenario import PHASES, is_active
from tokentop.demo.traffic import USER_FAULTS, Request

DAYS_SHOWN: Final = 7


@dataclass(slots=True)
class Tally:
    tokens: int = 0
    prompt: int = 0
    completion: int = 0
    requests: int = 0

    def add(self, prompt: int, completion: int, total: int, requests: int = 1) -> None:
        self.tokens += total
        self.prompt += prompt
        self.completion += completion
        self.requests += requests


@dataclass(slots=True)
class _UserCounters:
    user: User
    lifetime: Tally
    months: dict[str, Tally]
    days: dict[str, Tally]
    last_request_at: float | None = None


def month_key(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m")


def day_key(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d")


def _previous_month(key: str) -> str:
    year, month = map(int, key.split("-"))
    return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"


class CounterStore:
    """Thread-safe counters: the gateway thread records, the HTTP threads read."""

    def __init__(self, start: float, users: tuple[User, ...] = USERS) -> None:
        self.start = start
        self._lock = threading.Lock()
        self._users: dict[str, _UserCounters] = {}
        for user in users:
            opening = Tally()
            opening.add(user.opening_tokens * 3 // 4, user.opening_tokens // 4, user.opening_tokens,
                        max(1, user.opening_tokens // 1500))
            lifetime = Tally()
            lifetime.add(opening.prompt * 3, opening.completion * 3, opening.tokens * 3, opening.requests * 3)
            self._users[user.id] = _UserCounters(user, lifetime, {month_key(start): opening}, {})

    def users(self) -> list[str]:
        return list(self._users)

    def record(self, r: Request) -> bool:
        """Count a request unless a fault keeps it off the counters; returns whether it was counted."""
        entry = self._users.get(r.user)
        if entry is None or not counted(r):
            return False
        with self._lock:
            entry.lifetime.add(r.prompt_tokens, r.completion_tokens, r.total_tokens)
            entry.months.setdefault(month_key(r.ts), Tally()).add(r.prompt_tokens, r.completion_tokens, r.total_tokens)
            entry.days.setdefault(day_key(r.ts), Tally()).add(r.prompt_tokens, r.completion_tokens, r.total_tokens)
            entry.last_request_at = r.ts
        return True

    def _counter_month(self, entry: _UserCounters, now: float) -> str:
        """The month the "this month" counter is booked to: last month while the reset is missed."""
        fault = USER_FAULTS.get(entry.user.id)
        if fault is not None and is_active(PHASES[fault], now - self.start):
            return _previous_month(month_key(now))
        return month_key(now)

    def _months_as_reported(self, entry: _UserCounters, now: float) -> tuple[dict[str, Tally], str]:
        months = {k: Tally(v.tokens, v.prompt, v.completion, v.requests) for k, v in entry.months.items()}
        booked, current = self._counter_month(entry, now), month_key(now)
        if booked != current and current in months:
            moved = months.pop(current)  # the reset never ran: this month is added to last month's counter
            months.setdefault(booked, Tally()).add(moved.prompt, moved.completion, moved.tokens, moved.requests)
        return months, booked

    def token_usage(self, user: str, now: float) -> dict[str, Any] | None:
        """Seed 001's ``GET /user/{userId}/token-usage`` document."""
        entry = self._users.get(user)
        if entry is None:
            return None
        with self._lock:
            months, _ = self._months_as_reported(entry, now)
            days = sorted(entry.days.items())[-DAYS_SHOWN:]
            return {
                "userId": user,
                "totalTokens": entry.lifetime.tokens,
                "promptTokens": entry.lifetime.prompt,
                "completionTokens": entry.lifetime.completion,
                "requestCount": entry.lifetime.requests,
                "dailyUsage": [{"date": k, "tokens": t.tokens, "promptTokens": t.prompt,
                                "completionTokens": t.completion, "requests": t.requests} for k, t in days],
                "monthlyUsage": [{"month": k, "tokens": t.tokens, "promptTokens": t.prompt,
                                  "completionTokens": t.completion, "requests": t.requests}
                                 for k, t in sorted(months.items())],
                "lastRequestAt": None if entry.last_request_at is None else iso_ms(entry.last_request_at),
            }

    def usage(self, user: str, now: float) -> dict[str, Any] | None:
        """Seed 000's ``GET /api/user/usage`` document (``tokensUsed`` is this month's counter)."""
        entry = self._users.get(user)
        if entry is None:
            return None
        with self._lock:
            months, booked = self._months_as_reported(entry, now)
        used = months[booked].tokens if booked in months else 0
        limit = PLAN_LIMITS[entry.user.plan]
        return {
            "ok": True,
            "tokensUsed": used,
            "tokenLimit": limit,
            "percentage": round(100 * used / limit),
            "remaining": max(limit - used, 0),
            "subscriptionTier": entry.user.plan,
            "hasOwnKeys": False,
            "unlimited": False,
        }

