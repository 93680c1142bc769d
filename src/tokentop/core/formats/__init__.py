"""Record formats: each recognises its own records and maps them to UsageEvent fields.

A format is an object with a ``name``, ``detect(record) -> bool`` and ``extract(record)``. ``extract``
returns a dict of :class:`~tokentop.core.event.UsageEvent` field values (``ts`` may be any time value
the normaliser understands), a list of such dicts when one record holds several requests (an OTLP
export with many spans), or None when the record was absorbed into state (a stream chunk without
usage, a transcript line that is not a response) and produces no event. Formats are instantiated once
per source, so a stateful format keeps its state per source.

A field dict may carry ``SUPERSEDE: (key, rank)`` (key hashable, rank an int): the normaliser then keeps one event per key, the
one with the highest rank, retracting an already delivered one when a higher rank arrives (see
``tokentop.core.normalise``). Streams use it to count a request once from its first chunk and replace
that count when the usage arrives; transcripts use it to drop repeated lines.

A format may set ``line_needle``: bytes every useful line contains. When the format is forced for a
source, lines without them are not parsed at all (Claude Code transcripts: most lines carry no usage).
It may also offer ``extract_line(bytes)``, used instead of a full parse when it is forced: it returns
what ``extract`` would for that line, or -- for a line it read exactly -- a :data:`Request` tuple, which
the normaliser checks for superseding and turns into an event without an intermediate dict.

``FORMATS`` lists them in detection order: each ``detect`` starts with a cheap key test that rejects
the common hand-made records at once; the ``app`` shape, which accepts anything, is last.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

Fields = dict[str, Any]

SUPERSEDE: Final = "_supersede"
"""Field-dict key: ``(key, rank)`` -- one event per key, the highest rank wins."""

Request = tuple[Any, ...]
"""One request read exactly by a format's ``extract_line``, in :data:`REQUEST_FIELDS` order:
``(key, rank)`` as in ``SUPERSEDE``, then canonical values -- ``ts`` the record's time value (the
normaliser reads it, only for requests it builds);
counts already whole, non-negative and consistent (prompt includes cached and cache_write); cost
finite and non-negative or None. Every other event field takes its default."""

REQUEST_FIELDS: Final = ("ts", "request_id", "provider", "model", "prompt_tokens", "completion_tokens",
                         "cached_tokens", "cache_write_tokens", "reasoning_tokens", "cost")


def request_fields(request: Request) -> Fields:
    """The field dict equivalent to a :data:`Request` (for the general path: custom field mappings)."""
    fields = dict(zip(REQUEST_FIELDS, request[2:]))
    fields[SUPERSEDE] = (request[0], request[1])
    return fields


class Format(Protocol):
    name: str

    def detect(self, record: Mapping[str, Any]) -> bool: ...

    def extract(self, record: Mapping[str, Any]) -> Fields | list[Fields] | None: ...


def _factory(path: str) -> Callable[[], Format]:
    module, _, cls = path.partition(":")

    def make() -> Format:
        made: Format = getattr(importlib.import_module(f"tokentop.core.formats.{module}"), cls)()
        return made

    return make


FORMATS: dict[str, Callable[[], Format]] = {
    "openai.chat": _factory("openai_chat:OpenAIChatFormat"),
    "openai.responses": _factory("openai_responses:OpenAIResponsesFormat"),
    "anthropic": _factory("anthropic:AnthropicFormat"),
    "claude_code": _factory("claude_code:ClaudeCodeFormat"),
    "codex": _factory("codex:CodexFormat"),
    "gemini_cli": _factory("gemini_cli:GeminiCliFormat"),
    "gemini": _factory("gemini:GeminiFormat"),
    "otel": _factory("otel:OtelFormat"),
    "litellm.spendlogs": _factory("litellm:SpendLogsFormat"),  # before litellm: rows also have call_type
    "litellm": _factory("litellm:LiteLLMPayloadFormat"),
    "ollama": _factory("ollama:OllamaFormat"),
    "bedrock": _factory("bedrock:BedrockFormat"),
    "llm_logs": _factory("llm_logs:LlmLogsFormat"),  # simonw/llm rows (logs.db, `llm logs --json`)
    "langfuse": _factory("langfuse:LangfuseFormat"),  # observations (API export), one or a page per line
    "helicone": _factory("helicone:HeliconeFormat"),  # request rows (@helicone/export)
    "app": _factory("app:AppFormat"),
}
"""Format name -> factory, in detection order (``app`` must stay last: it accepts anything)."""

DETECT_KEYS: Final[dict[str, frozenset[str]]] = {
    "openai.chat": frozenset({"object"}),
    "openai.responses": frozenset({"object", "type"}),
    "anthropic": frozenset({"type"}),
    "claude_code": frozenset({"type"}),
    "codex": frozenset({"type"}),
    "gemini_cli": frozenset({"type", "projectHash", "$set", "$rewindTo"}),
    "gemini": frozenset({"usageMetadata", "usage_metadata", "candidates"}),
    "otel": frozenset({"resourceSpans"}),
    "litellm.spendlogs": frozenset({"startTime"}),
    "litellm": frozenset({"call_type", "standard_logging_object"}),
    "ollama": frozenset({"done"}),
    "bedrock": frozenset({"stopReason", "metrics", "metadata"}),
    "llm_logs": frozenset({"datetime_utc"}),
    "langfuse": frozenset({"usageDetails", "traceId", "meta"}),
    "helicone": frozenset({"request_created_at"}),
}
"""Format name -> top-level keys of which every record its ``detect`` accepts has at least one.

The normaliser asks only the formats whose keys a record has (most hand-made records have none of
them and go straight to ``app``), so detection gives what trying every format in order would give.
A format missing here is asked about every record. tests/formats checks each entry on the fixtures.
"""


def make_formats(only: str | None = None) -> list[Format]:
    """Fresh format instances for one source; ``only`` forces a single format by name."""
    if only is not None:
        if only not in FORMATS:
            raise KeyError(only)
        return [FORMATS[only]()]
    return [factory() for factory in FORMATS.values()]
