"""Per-name state outside the aggregator stays bounded however many names a source invents: what
``tokentop tail`` keeps while it follows a log of a million distinct models (238 MiB on main)."""

from __future__ import annotations

from tokentop.config import Config
from tokentop.core.lines import LineDecoder
from tokentop.sources.options import normaliser_for

import orjson


def test_caches_keyed_by_name_stay_bounded():
    normaliser = normaliser_for("gw", {}, Config())
    decoder = LineDecoder(normaliser, lambda problem: None)
    lines = [orjson.dumps({"ts": 1_790_000_000 + i, "model": f"model-{i}", "provider": f"p{i % 7000}",
                           "user": f"u{i}", "prompt_tokens": 10, "completion_tokens": 1}) for i in range(30_000)]
    for start in range(0, len(lines), 1000):
        assert len(decoder.decode(lines[start:start + 1000], 1_790_000_000.0)) == 1000
    price_table = normaliser._cost_of.__self__  # the PriceTable whose bound method prices events
    assert len(price_table._found) <= 4096
    assert len(normaliser._providers) <= 4096
