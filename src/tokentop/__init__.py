"""tokentop: a top-style live monitor for LLM token usage."""

__version__ = "0.1.0"
