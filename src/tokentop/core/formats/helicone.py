"""Helicone request exports: one ``HeliconeRequest`` row per line (``npx @helicone/export --format
jsonl``, or ``POST /v1/request/query-clickhouse``; Helicone's ``packages/llm-mapper/types.ts``).

Helicone stores the input in parts, for pricing each at its own rate (``packages/cost``
``costOfPrompt``): ``prompt_tokens`` is the fresh input only, without the cache reads
(``prompt_cache_read_tokens``), the cache writes (``prompt_cache_write_tokens``) and the audio input
(``prompt_audio_tokens``); ``completion_tokens`` leaves out ``completion_audio_tokens``. The canonical
prompt and completion add the parts back. Helicone's ``total_tokens`` follows the provider's own
total, whose cache convention differs by provider, so it is not used: the total is prompt + completion.
A row without counts (``null``) is a request with missing usage.

Model: ``model`` (else the response's, else the request's); provider: ``provider`` (``OPENAI`` ...);
user: ``request_user_id`` (the ``Helicone-User-Id`` header); time: ``request_created_at``; latency:
``delay_ms``; cost: ``costUSD``, else ``cost`` (USD); status: ``response_status`` (HTTP code); a
response served from Helicone's cache (``cache_reference_id`` set) is a cache hit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tokentop.core.fields import count, millis, money, text
from tokentop.core.formats import SUPERSEDE, Fields

NO_REFERENCE: Final = "00000000-0000-0000-0000-000000000000"


class HeliconeFormat:
    name = "helicone"

    def detect(self, record: Mapping[str, Any]) -> bool:
        return "request_created_at" in record and "request_id" in record

    def extract(self, record: Mapping[str, Any]) -> Fields:
        request_id = text(record.get("request_id"))
        status = record.get("response_status")
        reference = text(record.get("cache_reference_id"))
        cost = record.get("costUSD") if record.get("costUSD") is not None else record.get("cost")
        fields: Fields = {
            "ts": record.get("request_created_at"),
            "request_id": request_id,
            "model": text(record.get("model")) or text(record.get("response_model")) or text(record.get("request_model")),
            "provider": text(record.get("provider")),
            "user": text(record.get("request_user_id")),
            "latency_ms": millis(record.get("delay_ms")),
            "cost": money(cost),
            "status": text(status),
            "cache_hit": reference is not None and reference != NO_REFERENCE,
        }
        if isinstance(status, int) and status >= 400:
            fields["error"] = f"HTTP {status}"
        fields.update(_counts(record))
        if request_id is not None:  # a row exported twice (overlapping exports) counts once
            fields[SUPERSEDE] = (("helicone", request_id), 0)
        return fields


def _counts(record: Mapping[str, Any]) -> Fields:
    fresh, completion = count(record.get("prompt_tokens"), "prompt_tokens"), count(record.get("completion_tokens"),
                                                                                   "completion_tokens")
    if fresh is None and completion is None and record.get("total_tokens") is None:
        return {"token_source": "missing"}
    read = count(record.get("prompt_cache_read_tokens"), "prompt_cache_read_tokens") or 0
    write = count(record.get("prompt_cache_write_tokens"), "prompt_cache_write_tokens") or 0
    audio_in = count(record.get("prompt_audio_tokens"), "prompt_audio_tokens") or 0
    audio_out = count(record.get("completion_audio_tokens"), "completion_audio_tokens") or 0
    return {"prompt_tokens": (fresh or 0) + read + write + audio_in, "completion_tokens": (completion or 0) + audio_out,
            "cached_tokens": read, "cache_write_tokens": write}
