"""The superseding contract at the normaliser and aggregator level."""

from __future__ import annotations

import orjson

from .conftest import FIXTURES, fixture_lines, normalise
from tokentop.core.aggregate import Aggregator
from tokentop.core.event import SkipRecord
from tokentop.core.formats.recent import RecentMap
from tokentop.core.lines import LineDecoder
from tokentop.core.normalise import NormaliseOptions, Normaliser
from tokentop.core.pricing import shipped_table
from tokentop.sources.base import Batch
from tokentop.ingest import apply_batch


def chunk(ident: str, usage: dict | None) -> bytes:
    return orjson.dumps({"id": ident, "object": "chat.completion.chunk", "created": 1_800_000_000,
                         "model": "gpt-4o", "choices": [], "usage": usage})


def test_a_superseded_delivered_event_is_retracted_once():
    decoder = LineDecoder(Normaliser(NormaliseOptions(source="s")), lambda p: None)
    first = decoder.decode([chunk("c1", None)], 0.0)
    assert [e.token_source for e in first] == ["missing"] and decoder.take_retractions() == []
    assert decoder.decode([chunk("c1", None)], 0.0) == []  # later chunks without usage are absorbed
    final = decoder.decode([chunk("c1", {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7})], 0.0)
    assert [e.total_tokens for e in final] == [7]
    (gone,) = decoder.take_retractions()
    assert gone.token_source == "missing" and gone.raw is None
    assert decoder.decode([chunk("c1", {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7})], 0.0) == []


def test_retract_window_bounds_memory_and_never_double_counts():
    normaliser = Normaliser(NormaliseOptions(source="s", retract_window=2, supersede_window=1000))
    decoder = LineDecoder(normaliser, lambda p: None)
    decoder.decode([chunk("old", None)], 0.0)
    for n in range(10):  # push "old" out of the retract window (but not out of the rank window)
        decoder.decode([chunk(f"x{n}", None)], 0.0)
    assert decoder.decode([chunk("old", {"prompt_tokens": 1, "completion_tokens": 1})], 0.0) == []
    assert decoder.take_retractions() == []


def test_recent_map_keeps_recent_keys_and_bounds_size():
    recent: RecentMap[int] = RecentMap(3)
    for n in range(10):
        recent[n] = n
        assert recent.get(0) == 0  # kept alive by use
    assert len(recent) <= 6 and recent.get(1) is None and recent.get(9) == 9
    assert recent.pop(9) == 9 and recent.get(9) is None


def test_recent_map_update_keeps_recent_keys_and_bounds_size():
    recent: RecentMap[int] = RecentMap(5)
    for start in range(0, 40, 3):  # batches of 3: the last 5 keys (at least) stay, never more than 10
        recent.update({n: n for n in range(start, start + 3)})
        assert all(recent.get(n) == n for n in range(max(0, start - 2), start + 3))
        assert len(recent) <= 10
    recent.update({n: -n for n in range(100, 112)})  # a batch larger than size: one key at a time
    assert len(recent) <= 10 and recent.get(111) == -111 and recent.get(100) is None
    recent.update({111: 7})
    assert recent.get(111) == 7


def test_mixed_format_file_aggregates_to_pinned_totals():
    """Every fixture interleaved line by line, one batch per line, through apply_batch."""
    files = sorted(FIXTURES.glob("*.jsonl"))
    streams = [fixture_lines(f.name) for f in files]
    # Formats with per-stream state (Anthropic events carry no id) need their lines in order; round-robin
    # interleaving keeps each file's order while mixing formats on every line.
    mixed = [line for group in _round_robin(streams) for line in group]
    skips: list[SkipRecord] = []
    decoder = LineDecoder(Normaliser(NormaliseOptions(source="mix"), cost_of=shipped_table().cost), skips.append)
    agg = Aggregator()
    for line in mixed:
        events = decoder.decode([line], 1_800_000_000.0)
        apply_batch(agg, Batch(events=events, retracted=decoder.take_retractions()))
    # (only the OTel spans that are not usage: an HTTP span, a span without attributes, an agent span)
    assert sorted(s.reason for s in skips) == ["aggregate_span", "no_usage", "no_usage"]
    totals = {}
    for fmt in ("openai.chat", "openai.responses", "anthropic", "claude_code", "gemini", "otel", "litellm",
                "litellm.spendlogs", "ollama", "bedrock", "codex", "gemini_cli", "langfuse", "helicone"):
        assert any(e.format == fmt for e in agg.recent), fmt
    for _, cell in agg.all_cells():
        for name in ("requests", "prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens",
                     "cache_write_tokens", "reasoning_tokens", "missing"):
            totals[name] = totals.get(name, 0) + getattr(cell, name)
    # The same numbers as each file normalised on its own (the per-format tests pin those).
    expected = {name: 0 for name in totals}
    for lines in streams:
        for e in normalise(lines):
            expected["requests"] += 1
            expected["missing"] += e.token_source == "missing"
            for name in totals.keys() - {"requests", "missing"}:
                expected[name] += getattr(e, name)
    assert totals == expected
    assert totals["requests"] == 54 and totals["missing"] == 9


def _round_robin(streams):
    longest = max(len(s) for s in streams)
    for i in range(longest):
        yield [s[i] for s in streams if i < len(s)]


def test_a_discriminator_holding_an_object_is_not_a_bad_record():
    from tokentop.core.normalise import NormaliseOptions, Normaliser

    normaliser = Normaliser(NormaliseOptions(source="s"))
    for key in ("type", "object"):
        line = b'{"%s": {"nested": 1}, "prompt_tokens": 3, "completion_tokens": 4}' % key.encode()
        (event,) = normaliser.events_from_line(line, 0.0)
        assert (event.format, event.total_tokens) == ("app", 7)
