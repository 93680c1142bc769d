"""LiteLLM: the ``StandardLoggingPayload`` its callbacks emit, and ``LiteLLM_SpendLogs`` rows as JSON.

``prompt_tokens`` already includes cache reads and writes (LiteLLM folds Anthropic/Bedrock caches in);
cached, cache-write and reasoning counts live only in ``usage_object`` (``metadata.usage_object`` or
``hidden_params.usage_object``); ``metadata`` (and the other object fields) may be a JSON string, as
the proxy holds a spend-log row before its database write. Older LiteLLM versions folded in only cache reads: when cached +
cache-write exceed the prompt, the writes were left out and are added back.

Identity: ``user`` is the end user (the customer id an application passes) when known, else the
internal user owning the virtual key; ``team`` the team alias, else its id; ``api_key_id`` the key's
alias, else a short prefix of the key HASH LiteLLM stores (never a key; a value that looks like a raw
``sk-`` key is fingerprinted instead).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokentop.core.fields import count, flag, json_object, millis, money, text
from tokentop.core.formats import SUPERSEDE, Fields
from tokentop.core.formats.app import key_fingerprint
from tokentop.core.timeparse import parse_time


class LiteLLMPayloadFormat:
    name = "litellm"

    def detect(self, record: Mapping[str, Any]) -> bool:
        return ("call_type" in record and "startTime" in record) or "standard_logging_object" in record

    def extract(self, record: Mapping[str, Any]) -> Fields:
        payload = record.get("standard_logging_object", record)
        if not isinstance(payload, Mapping):
            payload = record
        metadata = json_object(payload.get("metadata"), "metadata")
        hidden = json_object(payload.get("hidden_params"), "hidden_params")
        usage_object = json_object(metadata.get("usage_object") or hidden.get("usage_object"), "usage_object")
        start, end = payload.get("startTime"), payload.get("endTime")
        error_info = json_object(payload.get("error_information"), "error_information")
        fields: Fields = {
            "ts": start,
            "request_id": text(payload.get("id")),
            "provider": text(payload.get("custom_llm_provider")),
            "model": _model(payload.get("model"), payload.get("custom_llm_provider")),
            "cost": money(payload.get("response_cost")),
            "latency_ms": _seconds_between(start, end),
            "status": text(payload.get("status")),
            "error": text(payload.get("error_str")) or text(error_info.get("error_message")),
            "cache_hit": flag(payload.get("cache_hit")),
            "endpoint": text(payload.get("call_type")),
            **gateway_identity(metadata, text(payload.get("end_user"))),
        }
        fields.update(_counts(payload, usage_object, fields["status"]))
        return fields


class SpendLogsFormat:
    name = "litellm.spendlogs"

    def detect(self, record: Mapping[str, Any]) -> bool:
        return "spend" in record and "request_id" in record and "startTime" in record

    def extract(self, record: Mapping[str, Any]) -> Fields:
        metadata = json_object(record.get("metadata"), "metadata")
        status = text(record.get("status")) or text(metadata.get("status"))
        duration = record.get("request_duration_ms")
        error_info = json_object(metadata.get("error_information"), "metadata.error_information")
        fields: Fields = {
            "ts": record.get("startTime"),
            "request_id": text(record.get("request_id")),
            "provider": text(record.get("custom_llm_provider")),
            "model": _model(record.get("model"), record.get("custom_llm_provider")),
            "cost": money(record.get("spend")),
            "latency_ms": millis(duration) if duration is not None else _iso_between(record),
            "status": status,
            "error": text(error_info.get("error_message")),
            "cache_hit": flag(record.get("cache_hit")),
            "endpoint": text(record.get("call_type")),
            **gateway_identity(metadata, text(record.get("end_user")) or text(record.get("user"))),
        }
        if fields["team"] is None:
            fields["team"] = text(record.get("team_id"))
        if fields["api_key_id"] is None:
            fields["api_key_id"] = key_id(None, record.get("api_key"))
        fields.update(_counts(record, json_object(metadata.get("usage_object"), "metadata.usage_object"), status))
        if fields["request_id"] is not None:
            fields[SUPERSEDE] = (("litellm.spendlogs", fields["request_id"]), 0)  # a row read twice counts once
        return fields


def gateway_identity(metadata: Mapping[str, Any], end_user: str | None) -> Fields:
    return {
        "user": end_user or text(metadata.get("user_api_key_end_user_id"))
        or text(metadata.get("user_api_key_user_id")),
        "team": text(metadata.get("user_api_key_team_alias")) or text(metadata.get("user_api_key_team_id"))
        or text(metadata.get("team_alias")) or text(metadata.get("team_id")),
        "api_key_id": key_id(metadata.get("user_api_key_alias"), metadata.get("user_api_key_hash")
                             or metadata.get("user_api_key")),
    }


def key_id(alias: Any, hashed: Any) -> str | None:
    """A key's alias, else a short prefix of its stored hash; a raw-looking key is fingerprinted."""
    name = text(alias)
    if name is not None:
        return name
    value = text(hashed)
    if value is None:
        return None
    if value.startswith("sk-") or len(value) < 32:
        return key_fingerprint(value)
    return "sha256:" + value[:12]


def _counts(record: Mapping[str, Any], usage_object: Mapping[str, Any], status: str | None) -> Fields:
    prompt = count(record.get("prompt_tokens"), "prompt_tokens")
    completion = count(record.get("completion_tokens"), "completion_tokens")
    total = count(record.get("total_tokens"), "total_tokens")
    failed = status is not None and status.lower() == "failure"
    if (prompt is None and completion is None and total is None) or (failed and not prompt and not completion):
        return {"token_source": "missing"}
    details = _mapping(usage_object.get("prompt_tokens_details"))
    out_details = _mapping(usage_object.get("completion_tokens_details"))
    cached = count(details.get("cached_tokens"), "cached_tokens")
    if cached is None:
        cached = count(usage_object.get("cache_read_input_tokens"), "cache_read_input_tokens")
    write = count(details.get("cache_creation_tokens"), "cache_creation_tokens")
    if write is None:
        write = count(usage_object.get("cache_creation_input_tokens"), "cache_creation_input_tokens")
    cached, write = cached or 0, write or 0
    if prompt is not None and cached + write > prompt:
        prompt += write  # an older LiteLLM that folded only the cache reads into prompt_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "cached_tokens": cached,
        "cache_write_tokens": write,
        "reasoning_tokens": count(out_details.get("reasoning_tokens"), "reasoning_tokens") or 0,
    }


def _model(model: Any, provider: Any) -> str | None:
    """The model without a ``provider/`` routing prefix that merely repeats the provider."""
    name = text(model)
    prefix = text(provider)
    if name and prefix and name.startswith(prefix + "/"):
        return name[len(prefix) + 1:]
    return name


def _seconds_between(start: Any, end: Any) -> float | None:
    if isinstance(start, (int, float)) and isinstance(end, (int, float)) and end >= start:
        return (end - start) * 1000.0
    return None


def _iso_between(record: Mapping[str, Any]) -> float | None:
    try:
        start, end = parse_time(record.get("startTime")), parse_time(record.get("endTime"))
    except (ValueError, OverflowError, OSError):
        return None
    return None if start is None or end is None or end < start else (end - start) * 1000.0


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


