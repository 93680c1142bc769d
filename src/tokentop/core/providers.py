"""Provider names: one spelling per provider, and inference from well-known model names."""

from __future__ import annotations

from typing import Final

from tokentop.core.event import UNKNOWN

# Spellings seen in gateways, SDKs and OpenTelemetry (gen_ai.provider.name) -> canonical name.
ALIASES: Final[dict[str, str]] = {
    "openai": "openai", "open_ai": "openai", "open-ai": "openai", "oai": "openai",
    "azure": "azure", "azure_openai": "azure", "azure-openai": "azure", "azureopenai": "azure",
    "azure.ai.openai": "azure", "azure_ai": "azure", "azure.ai.inference": "azure",
    "anthropic": "anthropic", "claude": "anthropic",
    "gemini": "gemini", "google": "gemini", "googleai": "gemini", "google_ai": "gemini",
    "google-ai": "gemini", "gcp.gemini": "gemini", "gcp.gen_ai": "gemini",
    "vertex": "vertex_ai", "vertex_ai": "vertex_ai", "vertexai": "vertex_ai", "gcp.vertex_ai": "vertex_ai",
    "bedrock": "bedrock", "aws.bedrock": "bedrock", "aws_bedrock": "bedrock", "aws": "bedrock",
    "mistral": "mistral", "mistral_ai": "mistral", "mistralai": "mistral",
    "deepseek": "deepseek", "deep_seek": "deepseek",
    "groq": "groq",
    "openrouter": "openrouter", "open_router": "openrouter", "open-router": "openrouter",
    "ollama": "ollama",
    "cohere": "cohere",
    "xai": "xai", "x_ai": "xai", "x-ai": "xai",
    "perplexity": "perplexity",
    "together": "together", "together_ai": "together", "togetherai": "together",
    "fireworks": "fireworks", "fireworks_ai": "fireworks",
}

# Model-name prefixes that belong to exactly one provider, tried in order (the first match wins, so a
# more specific prefix comes before a shorter one). Open-weight families (llama, qwen, gemma, ...) are
# served by many providers, so they are deliberately absent: guessing would hide a fault.
MODEL_PREFIXES: Final[tuple[tuple[str, str], ...]] = (
    ("text-embedding-004", "gemini"),  # before OpenAI's "text-embedding-" family: first match wins
    ("gpt-", "openai"), ("chatgpt-", "openai"), ("o1", "openai"), ("o3", "openai"), ("o4", "openai"),
    ("text-embedding-", "openai"), ("davinci", "openai"), ("babbage", "openai"), ("whisper", "openai"),
    ("dall-e", "openai"), ("tts-", "openai"), ("omni-moderation", "openai"),
    ("claude", "anthropic"),
    ("gemini", "gemini"),
    ("deepseek", "deepseek"),
    ("mistral", "mistral"), ("mixtral", "mistral"), ("codestral", "mistral"), ("ministral", "mistral"),
    ("pixtral", "mistral"), ("magistral", "mistral"), ("devstral", "mistral"),
    ("command", "cohere"), ("embed-english", "cohere"), ("embed-multilingual", "cohere"),
    ("grok", "xai"),
    ("sonar", "perplexity"),
)


def canonical_provider(name: str) -> str:
    """Lower-cased provider name with common spellings mapped to one."""
    key = name.strip().lower()
    if not key or key in ("null", "none"):
        return UNKNOWN
    return ALIASES.get(key, key)


def infer_provider(model: str) -> str | None:
    """The provider a model name belongs to, or None when the name does not say.

    ``provider/model`` names (OpenRouter, LiteLLM) name their provider before the slash.
    """
    name = model.strip().lower()
    head, slash, _ = name.partition("/")
    if slash and head in ALIASES:
        return ALIASES[head]
    for prefix, provider in MODEL_PREFIXES:
        if name.startswith(prefix):
            return provider
    return None


def without_provider(model: str, provider: str) -> str:
    """The model without a ``provider/`` head that names ``provider`` again: simonw/llm's
    ``anthropic/claude-sonnet-4-5``, LiteLLM's ``openai/gpt-4o``. Shown as ``provider/model``, the
    head would be doubled; a head naming another party (OpenRouter's ``anthropic/claude-3.5-sonnet``
    under ``openrouter``) is part of the model's name and stays."""
    head, slash, rest = model.partition("/")
    if slash and rest and ALIASES.get(head.strip().lower()) == provider:
        return rest
    return model


def resolve_provider(named: str | None, model: str, cache: dict[tuple[str | None, str], tuple[str, bool, str]],
                     limit: int) -> tuple[str, bool, str]:
    """Canonical provider, whether it was inferred from the model, and the model without a
    ``provider/`` head that repeats that provider; kept in ``cache`` (all three repeat), which is
    cleared when it holds ``limit`` entries."""
    key = (named, model)
    known = cache.get(key)
    if known is None:
        if len(cache) >= limit:
            cache.clear()
        provider, inferred = canonical_provider(named or ""), False
        if provider == UNKNOWN and model != UNKNOWN:
            guessed = infer_provider(model)
            if guessed is not None:
                provider, inferred = guessed, True
        known = cache[key] = (provider, inferred, without_provider(model, provider))
    return known
