"""Cost of a request from a dated price table, when the record does not carry its own cost.

The table ships with tokentop (``tokentop/data/prices.toml``) and is overridden per model by the
config's ``[prices."model"]`` tables. A model the table does not know gets no cost (None) -- never a
guess. Pure: the shipped table is read once from the package, nothing is fetched.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from tokentop.core.event import UsageEvent

PER_TOKENS: Final = 1_000_000
PRICE_KEYS: Final = frozenset({"input", "output", "cached", "cache_write"})
_UNSEEN: Final = object()
_FOUND_LIMIT: Final = 4096
"""(model, provider) pairs whose price is remembered; ever-new names only clear it, never grow it."""

# Dated snapshot and version suffixes, removed one at a time from the end of a model name.
_SUFFIX = re.compile(r"(-\d{4}-\d{2}-\d{2}|[-@]\d{8}|-v\d+(:\d+)?|:\d+|-\d{3,4}|-latest)$")
# Provider routing prefixes: "openai/", "bedrock/", Bedrock ids "us.anthropic." / "anthropic.".
_ROUTE = re.compile(r"^([a-z0-9_.-]+/)+")
_VENDOR = re.compile(r"^((us|eu|apac|global)\.)?(anthropic|meta|mistral|amazon|cohere)\.")


class PriceError(ValueError):
    """A price entry that is not usable; ``key`` names it (``prices.gpt-4o.input``)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key, self.problem = key, problem


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1M tokens."""

    input: float
    output: float
    cached: float
    cache_write: float

    def cost(self, e: UsageEvent) -> float:
        cached, write = e.cached_tokens, e.cache_write_tokens
        uncached = e.prompt_tokens - cached - write
        if uncached < 0:
            uncached = 0
        return (uncached * self.input + cached * self.cached
                + write * self.cache_write + e.completion_tokens * self.output) / PER_TOKENS


class PriceTable:
    """Model name -> Price, with name matching that sees through snapshots and provider prefixes."""

    def __init__(self, prices: Mapping[str, Price], as_of: str | None = None) -> None:
        self.prices = {name.lower(): price for name, price in prices.items()}
        self.as_of = as_of
        self._found: dict[tuple[str, str], Price | None] = {}

    def with_overrides(self, overrides: Mapping[str, Any]) -> PriceTable:
        """A copy where each ``[prices."model"]`` table replaces (or adds) that model's price."""
        merged = dict(self.prices)
        for name, spec in overrides.items():
            merged[name.lower()] = parse_price(spec, f"prices.{name}")
        return PriceTable(merged, self.as_of)

    def lookup(self, model: str, provider: str = "") -> Price | None:
        price = self._found.get((model, provider), _UNSEEN)  # (one dict lookup: once per event)
        if price is _UNSEEN:
            if len(self._found) >= _FOUND_LIMIT:
                self._found.clear()
            price = self._found[(model, provider)] = self._match(model.lower(), provider.lower())
        return price  # type: ignore[return-value]

    def cost(self, e: UsageEvent) -> float | None:
        """The request's cost, or None when the model is unknown or its usage is missing."""
        if e.token_source == "missing":
            return None
        price = self.lookup(e.model, e.provider)
        return None if price is None else price.cost(e)

    def _match(self, model: str, provider: str) -> Price | None:
        prices = self.prices
        for name in (f"{provider}/{model}", model):  # a provider-qualified override wins
            if name in prices:
                return prices[name]
        name = _VENDOR.sub("", _ROUTE.sub("", model))
        while True:
            if name in prices:
                return prices[name]
            shorter = _SUFFIX.sub("", name)
            if shorter == name:
                return None
            name = shorter


def parse_price(spec: Any, where: str) -> Price:
    if not isinstance(spec, Mapping):
        raise PriceError(where, "must be a table with input and output prices (USD per 1M tokens)")
    unknown = set(spec) - PRICE_KEYS
    if unknown:
        raise PriceError(f"{where}.{sorted(unknown)[0]}", f"unknown price (known: {', '.join(sorted(PRICE_KEYS))})")
    values: dict[str, float] = {}
    for key in ("input", "output", "cached", "cache_write"):
        value = spec.get(key)
        if value is None:
            if key in ("input", "output"):
                raise PriceError(f"{where}.{key}", "is required")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise PriceError(f"{where}.{key}", "must be a non-negative number (USD per 1M tokens)")
        values[key] = float(value)
    return Price(values["input"], values["output"], values.get("cached", values["input"]),
                 values.get("cache_write", values["input"]))


def shipped_table() -> PriceTable:
    """The price table shipped with tokentop."""
    data = tomllib.loads(resources.files("tokentop.data").joinpath("prices.toml").read_text(encoding="utf-8"))
    models = {name: parse_price(spec, f"prices.toml: models.{name}") for name, spec in data["models"].items()}
    return PriceTable(models, data.get("as_of"))
