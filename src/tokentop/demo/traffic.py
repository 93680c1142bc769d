"""The demo gateway's traffic: a seeded, deterministic stream of requests in simulated time.

Requests come from independent arrival streams (the users' base traffic, and the free user racing
towards her limit while that phase is on), each with its own seeded RNG, merged in time order. The
sequence depends only on the seed and the start time, never on how often ``until`` is called.
A request records what the gateway saw from the provider (including the scripted faults that change
what a provider reports); which writers drop or alter it is decided in ``records``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Final

from tokentop.demo.catalogue import MODELS, PLAN_LIMITS, USERS, USERS_BY_ID, Model, User, cost_of
from tokentop.demo.scenario import PHASES, is_active

BASE_RATE: Final = 2.5
"""Requests per simulated second across all users."""
RACER_RATE: Final = 1.0
RACER: Final = "dana"
RACER_MODEL: Final = "gpt-4o-mini"
RACER_SIZE: Final = (2000, 450)
"""Mean prompt and completion of the racer's requests: ~2.4K tokens a second at RACER_RATE."""
HISTORY: Final = 1800.0
"""Simulated seconds of traffic before the demo's start, written at once when the gateway starts (the
gateway has been running for a while when tokentop starts watching; alert baselines need it)."""
QUOTA_EXCEEDED: Final = "quota exceeded for plan"
CACHE_HIT_SHARE: Final = 0.05
ERROR_SHARE: Final = 0.02
STREAM_SHARE: Final = 0.35
ERRORS: Final = ("upstream 429: rate limited", "upstream 503: overloaded", "timeout after 30s")

# Which provider / platform / user each phase changes (the phases themselves are in scenario.py).
PROVIDER_FAULTS: Final = {"deepseek": "untracked_provider", "gemini": "totals_mismatch",
                          "openrouter": "estimated_counts", "groq": "null_provider"}
PLATFORM_FAULTS: Final = {"instagram": "logging_stopped"}
USER_FAULTS: Final = {"bob": "counter_not_reset"}


@dataclass(slots=True)
class Request:
    """One request as the gateway saw it (counts as the provider reported them)."""

    ts: float
    offset: float
    request_id: str
    user: str
    plan: str
    platform: str
    source: str
    provider: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    token_source: str = "actual"
    cost: float = 0.0
    latency_ms: float = 0.0
    stream: bool = False
    cache_hit: bool = False
    status: str = "success"
    error: str | None = None
    faults: frozenset[str] = frozenset()
    """The scripted phases this request acts out (see scenario.SCHEDULE)."""


class _Stream:
    """One Poisson arrival stream with its own RNG; ``make`` builds the request at an arrival."""

    def __init__(self, seed: str, rate: float, start: float,
                 make: Callable[[random.Random, float], Request | None]) -> None:
        self.rng = random.Random(seed)
        self.rate = rate
        self.make = make
        self.next_ts = start + self.rng.expovariate(rate)

    def pop(self) -> Request | None:
        ts = self.next_ts
        self.next_ts = ts + self.rng.expovariate(self.rate)
        return self.make(self.rng, ts)


class TrafficGenerator:
    """Seeded requests from ``start`` (epoch seconds of simulated time) onwards."""

    def __init__(self, start: float, seed: int = 7, base_rate: float = BASE_RATE, history: float = HISTORY) -> None:
        self.start = start
        self.count = 0
        self._used: dict[tuple[str, int, int], int] = {}
        """(user, year, month) -> tokens: the gateway's own books, to enforce plan limits."""
        first = start - history
        self._streams = [
            _Stream(f"{seed}:base", base_rate, first, self._base_request),
            _Stream(f"{seed}:racer", RACER_RATE, first, self._racer_request),
        ]

    def until(self, now: float) -> list[Request]:
        """Every request with a time up to ``now`` not returned before, in time order."""
        out: list[Request] = []
        while True:
            stream = min(self._streams, key=lambda s: s.next_ts)
            if stream.next_ts > now:
                return out
            request = stream.pop()
            if request is not None:
                self._enforce_limit(request)
                self.count += 1
                out.append(request)

    def _enforce_limit(self, r: Request) -> None:
        """A user over their plan's monthly limit is refused (seed 002: "plan limits are enforced")."""
        month = datetime.fromtimestamp(r.ts, timezone.utc)
        key = (r.user, month.year, month.month)
        used = self._used.get(key, 0)
        if used >= PLAN_LIMITS[r.plan]:
            r.status, r.error, r.stream, r.token_source = "error", QUOTA_EXCEEDED, False, "actual"
            r.prompt_tokens = r.completion_tokens = r.total_tokens = r.cached_tokens = 0
            r.cache_write_tokens = r.reasoning_tokens = 0
            r.cost, r.latency_ms = 0.0, 4.0
        self._used[key] = used + r.total_tokens

    # -- request shapes -----------------------------------------------------------------------

    def _base_request(self, rng: random.Random, ts: float) -> Request:
        user = rng.choices(USERS, weights=[u.weight for u in USERS])[0]
        platform, source = _pick_platform(rng, user)
        model = MODELS[rng.choices([m for m, _ in user.models], weights=[w for _, w in user.models])[0]]
        request = self._new(rng, ts, user, platform, source, model)
        roll = rng.random()
        if roll < CACHE_HIT_SHARE:
            # Served from the gateway's response cache: no provider call, legitimately 0 tokens.
            request.cache_hit, request.latency_ms = True, round(rng.uniform(3, 15), 1)
        elif roll < CACHE_HIT_SHARE + ERROR_SHARE:
            request.status, request.error = "error", rng.choice(ERRORS)
            request.latency_ms = round(rng.uniform(50, 2000), 1)
        else:
            request.stream = platform != "instagram" and source != "webhook" and rng.random() < STREAM_SHARE
            _fill_usage(rng, request, model)
        return request

    def _racer_request(self, rng: random.Random, ts: float) -> Request | None:
        if not is_active(PHASES["quota_race"], ts - self.start):
            return None
        request = self._new(rng, ts, USERS_BY_ID[RACER], "web", "playground", MODELS[RACER_MODEL])
        request.stream = True
        _fill_usage(rng, request, MODELS[RACER_MODEL], *RACER_SIZE)
        request.faults = request.faults | {"quota_race"}
        return request

    def _new(self, rng: random.Random, ts: float, user: User, platform: str, source: str, model: Model) -> Request:
        offset = ts - self.start
        faults = {PROVIDER_FAULTS.get(model.provider), PLATFORM_FAULTS.get(platform), USER_FAULTS.get(user.id)}
        active = frozenset(f for f in faults if f is not None and is_active(PHASES[f], offset))
        return Request(
            ts=ts, offset=offset, request_id=f"req_{rng.getrandbits(48):012x}", user=user.id, plan=user.plan,
            platform=platform, source=source, provider=model.provider, model=model.name, faults=active,
        )


def _pick_platform(rng: random.Random, user: User) -> tuple[str, str]:
    platform, source, _ = rng.choices(user.platforms, weights=[w for *_, w in user.platforms])[0]
    return platform, source


def _size(rng: random.Random, mean: float) -> int:
    """A log-normal token count with the given mean (sigma 0.5), at least 1."""
    sigma = 0.5
    return max(1, int(rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)))


def _fill_usage(rng: random.Random, r: Request, model: Model,
                prompt_mean: float | None = None, completion_mean: float | None = None) -> None:
    """Counts, cost and latency of a request the provider answered."""
    prompt = _size(rng, prompt_mean or model.prompt_mean)
    completion = _size(rng, completion_mean or model.completion_mean)
    if model.reasoning:
        share = rng.uniform(0.5, 0.8) if model.provider == "openai" else rng.uniform(0.2, 0.5)
        r.reasoning_tokens = max(2, int(completion * share))
        completion = max(completion, r.reasoning_tokens + 1)
    if model.cache and prompt > 1024 and rng.random() < 0.45:
        r.cached_tokens = int(prompt * rng.uniform(0.4, 0.9)) // 64 * 64
    elif model.cache == "read_write" and rng.random() < 0.25:
        r.cache_write_tokens = int(prompt * rng.uniform(0.3, 0.7))
    r.prompt_tokens, r.completion_tokens, r.total_tokens = prompt, completion, prompt + completion
    r.latency_ms = round(rng.uniform(150, 900) + completion * model.ms_per_output_token * rng.uniform(0.8, 1.2), 1)
    r.cost = round(cost_of(model, prompt, completion, r.cached_tokens), 8)
    if "totals_mismatch" in r.faults:
        # Gemini's OpenAI-compatible API: completion_tokens leaves the thoughts out, total_tokens has them.
        r.completion_tokens = completion - r.reasoning_tokens
    if "estimated_counts" in r.faults:
        # The stream carried no usage, so the gateway estimated from text length (1 token ~ 4 chars).
        r.stream, r.token_source = True, "estimated"
        prompt_chars, completion_chars = int(prompt * rng.uniform(3.0, 4.6)), int(completion * rng.uniform(3.0, 4.6))
        r.prompt_tokens, r.completion_tokens = prompt_chars // 4 + 500, completion_chars // 4
        r.total_tokens = r.prompt_tokens + r.completion_tokens
        r.cached_tokens = r.cache_write_tokens = r.reasoning_tokens = 0
        r.cost = round(cost_of(model, r.prompt_tokens, r.completion_tokens, 0), 8)
