"""``untracked_provider``: usage that was made but not recorded.

Within a source: requests that arrive without usage (``token_source`` missing) or with zero tokens
that no cache hit or error explains. Across sources: a provider, platform or user that one source
(the gateway log) sees but another (the ledger, the counter) records never or far less.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokentop.core.cells import PROVIDER, SOURCE, family_of, fold
from tokentop.core.alerts.model import Finding, Situation, subject
from tokentop.core.numbers import count, duration, share, tokens as token_count
from tokentop.core.alerts.windows import cells_between, counter_sources, dimension_value, known, source_profiles

Settings = Mapping[str, Any]
RULE = "untracked_provider"


def untracked_provider(s: Situation, cfg: Settings) -> list[Finding]:
    return missing_usage(s, cfg) + unmatched_across_sources(s, cfg)


def missing_usage(s: Situation, cfg: Settings) -> list[Finding]:
    start = s.now - cfg["missing_window"]
    skip = counter_sources(s)
    groups = fold(cells_between(s.agg, start, s.now), lambda k: None if k[SOURCE] in skip else k[PROVIDER])
    zero, sampled = _unexplained_zeros(s, start, skip)
    findings = []
    for provider, c in sorted(groups.items()):
        if c.requests <= 0:
            continue
        missing_rate = c.missing / c.requests
        zero_rate = zero.get(provider, 0) / sampled[provider] if sampled.get(provider) else 0.0
        if c.missing + zero.get(provider, 0) < cfg["min_requests"]:
            continue
        if max(missing_rate, zero_rate) < cfg["missing_rate"] or max(missing_rate, zero_rate) == 0:
            continue
        parts = []
        if c.missing:
            parts.append(f"{count(c.missing)} of {count(c.requests)} requests arrived without usage")
        if zero.get(provider):
            parts.append(f"{count(zero[provider])} of {count(sampled[provider])} recent requests recorded 0 tokens "
                         f"without a cache hit or error")
        findings.append(Finding(
            RULE, "warning", subject(provider=str(provider)),
            f"provider {provider}: {'; '.join(parts)} in the last {duration(cfg['missing_window'])}",
        ))
    return findings


def _unexplained_zeros(s: Situation, start: float, skip: set[str]) -> tuple[dict[str, int], dict[str, int]]:
    """Zero-token requests among the recent events (a bounded sample: the aggregates keep no per-event
    zero count). A cache hit with 0 tokens is legitimate, so is a failed request."""
    zero: dict[str, int] = {}
    sampled: dict[str, int] = {}
    for e in s.agg.recent:
        if e.ts < start or e.source in skip:
            continue
        sampled[e.provider] = sampled.get(e.provider, 0) + 1
        if e.total_tokens == 0 and e.token_source != "missing" and not e.cache_hit and not e.is_error:
            zero[e.provider] = zero.get(e.provider, 0) + 1
    return zero, sampled


def source_pairs(s: Situation, cfg: Settings) -> list[tuple[str, str]]:
    """Configured ``pairs`` (primary, reference), else every primary source with every reference one.

    Usage counters (endpoint sources) are left out: their growth lags by a poll interval and names no
    provider; ``counter_drift`` reconciles them per user, exactly.
    """
    names = {src.name for src in s.sources} - counter_sources(s)
    if cfg["pairs"]:
        return [(a, b) for a, b in cfg["pairs"] if a in names and b in names]
    primary = [src.name for src in s.sources if src.role == "primary" and src.name in names]
    reference = [src.name for src in s.sources if src.role == "reference" and src.name in names]
    return [(a, b) for a in primary for b in reference]


def unmatched_across_sources(s: Situation, cfg: Settings) -> list[Finding]:
    findings: list[Finding] = []
    dims = [d for d in cfg["dimensions"] if d != "source"]
    for primary, reference in source_pairs(s, cfg):
        # Compare only the time both sources have been delivering (not the minutes before one started).
        start = max(s.now - cfg["window"], _first_event(s, primary), _first_event(s, reference))
        tallies = _tally(s, start, (primary, reference), dims)
        for dim in dims:
            seen = tallies.get((primary, dim), {})
            recorded = tallies.get((reference, dim), {})
            if not recorded and not _records_dimension(s, reference, dim):
                continue  # the reference never records this dimension
            for value, (requests, tokens) in sorted(seen.items()):
                finding = _compare(dim, value, requests, tokens, recorded.get(value), primary, reference, cfg)
                if finding is not None:
                    findings.append(finding)
    return findings


def _tally(s: Situation, start: float, sources: tuple[str, ...], dims: list[str]
           ) -> dict[tuple[str, str], dict[str, list[int]]]:
    """(source, dimension) -> known value -> [requests, tokens] since ``start``, in one pass."""
    out: dict[tuple[str, str], dict[str, list[int]]] = {}
    for family in {family_of(dim) for dim in dims}:
        for key, counts in cells_between(s.agg, start, s.now, family):
            if key[SOURCE] not in sources:
                continue
            for dim in dims:
                if family_of(dim) != family:
                    continue
                value = dimension_value(key, dim)
                if not known(value):
                    continue
                values = out.setdefault((key[SOURCE], dim), {})
                slot = values.get(value)  # type: ignore[arg-type]
                if slot is None:
                    values[value] = [counts.requests, counts.total_tokens]  # type: ignore[index]
                else:
                    slot[0] += counts.requests
                    slot[1] += counts.total_tokens
    return out


def _first_event(s: Situation, source: str) -> float:
    return source_profiles(s)[0].get(source, s.now)


def _records_dimension(s: Situation, source: str, dim: str) -> bool:
    """Whether ``source`` ever recorded a value of ``dim`` (all-time cells)."""
    return (source, dim) in source_profiles(s)[1]


def _compare(dim: str, value: str, requests: int, tokens: int, recorded: list[int] | None, primary: str,
             reference: str, cfg: Settings) -> Finding | None:
    if requests < cfg["min_requests"]:
        return None
    got_requests, got_tokens = recorded or (0, 0)
    short_requests = got_requests < cfg["min_ratio"] * requests
    short_tokens = tokens > 0 and got_tokens < cfg["min_ratio"] * tokens
    if not (short_requests or short_tokens):
        return None
    where = f"in the last {duration(cfg['window'])}"
    if got_requests == 0:
        message = (f"{dim} {value}: {count(requests)} requests ({token_count(tokens)}) in {primary} "
                   f"but none recorded in {reference} {where}")
        severity = "critical"
    else:
        part = share(got_tokens / tokens) if tokens else "n/a"
        message = (f"{dim} {value}: {reference} recorded {token_count(got_tokens)} over {count(got_requests)} "
                   f"requests against {token_count(tokens)} over {count(requests)} requests in {primary} {where} "
                   f"({part} of tokens)")
        severity = "warning"
    return Finding(RULE, severity, subject(**{dim: value}, source=reference), message)
