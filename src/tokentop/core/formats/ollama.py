"""Ollama ``/api/chat`` and ``/api/generate``: the final object (``done: true``) of a request.

``prompt_eval_count`` is the prompt tokens evaluated, ``eval_count`` the generated tokens (thinking
included); durations are nanoseconds. Stream chunks (``done: false``) carry no metrics and are
absorbed, as are ``done_reason: "load"``/``"unload"`` answers (a model being loaded, not a request).

Ollama omits zero-valued metrics. A final object without ``prompt_eval_count`` is a prompt served
entirely from the KV cache: tokentop records prompt_tokens = 0 as reported (the real prompt length is
unknown and Ollama bills nothing) and keeps token_source ``actual``. Without either count the usage
is ``missing``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokentop.core.fields import count, millis, text
from tokentop.core.formats import Fields

_NOT_REQUESTS = frozenset({"load", "unload"})


class OllamaFormat:
    name = "ollama"

    def detect(self, record: Mapping[str, Any]) -> bool:
        return "done" in record and "created_at" in record and "model" in record

    def extract(self, record: Mapping[str, Any]) -> Fields | None:
        if record.get("done") is not True or record.get("done_reason") in _NOT_REQUESTS:
            return None
        fields: Fields = {
            "ts": record.get("created_at"),
            "model": text(record.get("model")),
            "provider": "ollama",
            "latency_ms": millis(record.get("total_duration"), 1e-6),
            "error": text(record.get("error")),
        }
        prompt = count(record.get("prompt_eval_count"), "prompt_eval_count")
        completion = count(record.get("eval_count"), "eval_count")
        if prompt is None and completion is None:
            fields["token_source"] = "missing"
        else:
            fields["prompt_tokens"] = prompt or 0
            fields["completion_tokens"] = completion or 0
        return fields
