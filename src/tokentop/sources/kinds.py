"""The source kinds and where each one's factory lives: the one registration of a kind (the config
checks names against it; ``registry`` imports the factory when a source of that kind is opened).
No imports: the config reads it before anything else is loaded."""

from __future__ import annotations

KINDS: dict[str, str] = {
    "jsonl": "tokentop.sources.jsonl:make_source",
    "sqlite": "tokentop.sources.ledger:make_source",
    "http": "tokentop.sources.endpoint:make_source",
    "claude": "tokentop.sources.claude:make_source",
    "codex": "tokentop.sources.codex:make_source",
    "gemini-cli": "tokentop.sources.gemini_cli:make_source",
    "postgres": "tokentop.sources.postgres:make_source",
    "otlp": "tokentop.sources.otlp:make_source",
}
"""kind -> "module:factory"; a factory takes (name, options, config, clock=) and returns a Source."""
