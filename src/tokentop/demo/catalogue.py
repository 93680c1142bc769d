"""Who uses the demo gateway and what it routes to: plans, users, models and their prices.

Plans are seed 002's free / pro / team, with limits scaled up (free 250K, pro 10M, team 50M tokens a
month instead of 50K / 500K / 2M) because the demo packs hours of a gateway's traffic into minutes:
at seed 002's limits every user would be "about to run out" within minutes. The users' mix of
platforms follows seed 004 (web, api, widget, and a webhook bot answering on telegram / instagram /
facebook); the models cover the provider conventions tokentop must normalise (reasoning, cache reads
and writes, Gemini thoughts, DeepSeek cache hits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

PLAN_LIMITS: Final[dict[str, int]] = {"free": 250_000, "pro": 10_000_000, "team": 50_000_000}


@dataclass(frozen=True, slots=True)
class Model:
    provider: str
    name: str
    prompt_mean: int
    """Typical prompt size in tokens (sizes are drawn log-normally around the mean)."""
    completion_mean: int
    price_in: float
    """USD per million input tokens."""
    price_out: float
    """USD per million output tokens."""
    ms_per_output_token: float
    reasoning: bool = False
    """Emits reasoning / thinking tokens (a subset of the completion)."""
    cache: str | None = None
    """Provider prompt caching: ``read`` (OpenAI / DeepSeek style), ``read_write`` (Anthropic)."""


MODELS: Final[dict[str, Model]] = {
    m.name: m
    for m in (
        Model("openai", "gpt-4o", 1400, 350, 2.5, 10.0, 12.0, cache="read"),
        Model("openai", "gpt-4o-mini", 900, 250, 0.15, 0.6, 6.0),
        Model("openai", "o3-mini", 1100, 1600, 1.1, 4.4, 8.0, reasoning=True),
        Model("anthropic", "claude-sonnet-4-5", 2600, 450, 3.0, 15.0, 14.0, cache="read_write"),
        Model("gemini", "gemini-2.5-flash", 1200, 700, 0.3, 2.5, 4.0, reasoning=True),
        Model("deepseek", "deepseek-chat", 1500, 400, 0.27, 1.1, 10.0, cache="read"),
        Model("groq", "llama-3.3-70b-versatile", 800, 300, 0.59, 0.79, 1.5),
        Model("openrouter", "qwen/qwen3-coder", 1800, 600, 0.4, 1.6, 9.0),
    )
}


@dataclass(frozen=True, slots=True)
class User:
    id: str
    plan: str
    weight: float
    """Share of the gateway's base traffic."""
    platforms: tuple[tuple[str, str, float], ...]
    """(platform, source tag, weight): where the user's requests come from (seed 004's metadata)."""
    models: tuple[tuple[str, float], ...]
    """(model name, weight)."""
    opening_tokens: int
    """Tokens already on the usage endpoint's counters this month when the demo starts."""


USERS: Final[tuple[User, ...]] = (
    User("alice", "pro", 0.16, (("web", "playground", 1.0),),
         (("gpt-4o", 3), ("claude-sonnet-4-5", 2), ("o3-mini", 1)), 1_864_000),
    User("bob", "pro", 0.20, (("api", "api", 1.0),),
         (("deepseek-chat", 3), ("gpt-4o-mini", 2), ("claude-sonnet-4-5", 1)), 4_129_000),
    User("carol", "team", 0.16, (("api", "api", 3.0), ("web", "playground", 1.0)),
         (("claude-sonnet-4-5", 3), ("gemini-2.5-flash", 2), ("qwen/qwen3-coder", 2)), 11_300_000),
    User("dana", "free", 0.01, (("web", "playground", 1.0),),
         (("deepseek-chat", 2), ("gemini-2.5-flash", 1), ("llama-3.3-70b-versatile", 1)), 61_200),
    User("eve", "free", 0.02, (("widget", "widget", 3.0), ("widget", "widget_init", 1.0)),
         (("gpt-4o-mini", 2), ("llama-3.3-70b-versatile", 2)), 40_750),
    User("frank", "pro", 0.10, (("api", "api", 1.0),),
         (("qwen/qwen3-coder", 3), ("deepseek-chat", 1), ("o3-mini", 1)), 2_053_000),
    User("acme-bot", "team", 0.30,
         (("instagram", "webhook", 4.0), ("telegram", "webhook", 2.0), ("facebook", "webhook", 2.0)),
         (("gpt-4o-mini", 3), ("gemini-2.5-flash", 2), ("llama-3.3-70b-versatile", 1)), 7_440_000),
)
USERS_BY_ID: Final[dict[str, User]] = {u.id: u for u in USERS}


def cost_of(model: Model, prompt: int, completion: int, cached: int) -> float:
    """USD for one request: cached input at a quarter of the input price (a typical discount)."""
    fresh = max(prompt - cached, 0)
    return (fresh * model.price_in + cached * model.price_in * 0.25 + completion * model.price_out) / 1e6
