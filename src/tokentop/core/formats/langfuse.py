"""Langfuse observations, as its public API returns them (``GET /api/public/observations``: one
``ObservationsView`` per line, or a whole page ``{"data": [...], "meta": {...}}``; the v2 API's
``ObservationV2`` too).

Requests are ``GENERATION`` and ``EMBEDDING`` observations; spans, events, agents and tools are not
LLM calls and are absorbed. Counts come from ``usageDetails`` (usage type -> units) read the way
Langfuse itself sums them: every type whose name contains ``input`` is input, ``output`` is output,
``total`` is the total (else the sum). Langfuse stores OpenAI-style usage with the details taken OUT of
``input``/``output`` (``input_cached_tokens``, ``output_reasoning_tokens``...), so the sums restore
tokentop's inclusive prompt and completion; cached = the input types naming a cache read
(``input_cached_tokens``, ``cache_read_input_tokens``, ``input_cache_read``), cache-write = those naming
a cache creation or write, reasoning = the output types naming reasoning. Without ``usageDetails`` the
deprecated ``usage`` object (unit ``TOKENS``) or ``promptTokens``/``completionTokens`` are read; a
generation without any is a request with missing usage.

Cost: ``costDetails.total`` (else the sum of its parts), else ``calculatedTotalCost`` / ``totalCost``.
Time: ``startTime``; latency: ``latency`` (seconds), else ``endTime - startTime``. The user is on the
observation only in the v2 API (``userId``); v1 keeps it on the trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tokentop.core.fields import count, millis, money, text
from tokentop.core.formats import SUPERSEDE, Fields
from tokentop.core.timeparse import parse_time

REQUEST_TYPES: Final = frozenset({"GENERATION", "EMBEDDING"})


class LangfuseFormat:
    name = "langfuse"

    def detect(self, record: Mapping[str, Any]) -> bool:
        if "usageDetails" in record or "traceId" in record:
            return "startTime" in record and "type" in record and "id" in record
        data = record.get("data")  # a page of the observations API
        return ("meta" in record and isinstance(data, list) and bool(data) and isinstance(data[0], Mapping)
                and "traceId" in data[0])

    def extract(self, record: Mapping[str, Any]) -> Fields | list[Fields] | None:
        if "meta" in record and isinstance(record.get("data"), list):
            found = [_observation(o) for o in record["data"] if isinstance(o, Mapping)]
            return [f for f in found if f is not None]
        return _observation(record)


def _observation(obs: Mapping[str, Any]) -> Fields | None:
    if str(obs.get("type")).upper() not in REQUEST_TYPES:
        return None
    observation_id = text(obs.get("id"))
    start = obs.get("startTime")
    fields: Fields = {
        "ts": start,
        "request_id": observation_id,
        "model": text(obs.get("providedModelName")) or text(obs.get("model")),
        "user": text(obs.get("userId")),
        "cost": _cost(obs),
        "latency_ms": _latency(obs.get("latency"), start, obs.get("endTime")),
    }
    if obs.get("level") == "ERROR":
        fields["error"] = text(obs.get("statusMessage")) or "ERROR"
    fields.update(_counts(obs))
    if observation_id is not None:  # an observation exported twice (overlapping pages) counts once
        fields[SUPERSEDE] = (("langfuse", observation_id), 0)
    return fields


def _counts(obs: Mapping[str, Any]) -> Fields:
    details = obs.get("usageDetails")
    if isinstance(details, Mapping) and details:
        return _from_details(details)
    usage = obs.get("usage")
    if isinstance(usage, Mapping) and usage.get("unit") in (None, "TOKENS"):
        prompt, completion = count(usage.get("input"), "usage.input"), count(usage.get("output"), "usage.output")
        total = count(usage.get("total"), "usage.total")
    else:
        prompt, completion = count(obs.get("promptTokens"), "promptTokens"), count(obs.get("completionTokens"),
                                                                                  "completionTokens")
        total = count(obs.get("totalTokens"), "totalTokens")
    if not prompt and not completion and not total:
        return {"token_source": "missing"}
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total or None}


def _from_details(details: Mapping[str, Any]) -> Fields:
    prompt = completion = cached = write = reasoning = 0
    total = None
    for key, value in details.items():
        units = count(value, f"usageDetails.{key}") or 0
        name = str(key).lower()
        if name == "total":
            total = units
        elif "input" in name:
            prompt += units
            if "cache" in name:
                if "read" in name or "cached" in name:
                    cached += units
                elif "creation" in name or "write" in name:
                    write += units
        elif "output" in name:
            completion += units
            if "reasoning" in name:
                reasoning += units
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total,
            "cached_tokens": cached, "cache_write_tokens": write, "reasoning_tokens": reasoning}


def _cost(obs: Mapping[str, Any]) -> float | None:
    details = obs.get("costDetails")
    if isinstance(details, Mapping) and details:
        if details.get("total") is not None:
            return money(details["total"], "costDetails.total")
        return sum(money(v, f"costDetails.{k}") or 0.0 for k, v in details.items())
    for key in ("calculatedTotalCost", "totalCost"):
        if obs.get(key) is not None:
            return money(obs[key], key)
    return None


def _latency(seconds: Any, start: Any, end: Any) -> float | None:
    if seconds is not None:
        return millis(seconds, 1000.0)
    try:
        began, ended = parse_time(start), parse_time(end)
    except (ValueError, OverflowError, OSError):
        return None
    return None if began is None or ended is None or ended < began else (ended - began) * 1000.0
