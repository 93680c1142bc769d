"""tokentop as a Prometheus target: ``/metrics`` (and ``/healthz``) served from the app's event loop.

The families come from :class:`tokentop.core.metrics_view.MetricsView`, built where the live app or
``tokentop serve`` already folds the aggregator (with it quiet), rendered with ``prometheus_client``'s
own exposition code off the event loop, and served as bytes: a scrape never reads the aggregator and
never renders (see :class:`Exporter`).

``/healthz`` answers 200 while the view is fresh and some source is not in error, else 503 with why:
for systemd watchdogs and load balancers next to each gateway.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric,
                                    StateSetMetricFamily)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from tokentop.config import Config, ConfigError
from tokentop.core.aggregate import Aggregator
from tokentop.core.snapshot import AlertView
from tokentop.core.metrics_view import Family, MetricsView, ViewSettings
from tokentop.httpd import HttpServer, Request, Response, Route

STALE_AFTER = 30.0
"""Seconds without a new view after which /healthz says the exporter is stuck."""
METRICS_KEYS = frozenset({"top_models", "top_users"})


def view_settings(config: Config) -> ViewSettings:
    """The ``[metrics]`` table: ``top_models`` and ``top_users`` (how many get their own series)."""
    table = config.metrics
    unknown = set(table) - METRICS_KEYS
    if unknown:
        raise ConfigError(config.path, f"metrics.{sorted(unknown)[0]}",
                          f"unknown key (known: {', '.join(sorted(METRICS_KEYS))})")
    values = {}
    for key in METRICS_KEYS:
        value = table.get(key, getattr(ViewSettings(), key))
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
            raise ConfigError(config.path, f"metrics.{key}", "must be a whole number from 1 to 10000")
        values[key] = value
    return ViewSettings(**values)


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``:PORT`` (127.0.0.1) for ``--metrics``."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"not HOST:PORT: {text!r}")
    return (host.strip("[]") or "127.0.0.1"), int(port)


class Exporter:
    """The latest rendered view.

    Two steps, so that neither a scrape nor the aggregator's writer waits on the other: ``build``
    reads the aggregator (call it with the aggregator quiet: in the app's fold, or on ``serve``'s
    loop) and returns plain families, at most once every ``every`` seconds; ``publish`` renders them
    with prometheus_client (tens of ms per 10,000 series: run it in a thread) and swaps the bytes a
    scrape returns. A scrape never renders, so it costs the same with 10 or 10,000 series.
    """

    def __init__(self, view: MetricsView, clock: Callable[[], float] = time.monotonic, every: float = 2.0) -> None:
        self.view = view
        self.clock = clock
        self.every = every
        self._built_at: float | None = None
        self._published_at: float | None = None
        self._rendered = b""
        self._health = "no view yet"

    def build(self, agg: Aggregator, now: float, statuses: Sequence[dict[str, Any]], alerts: Iterable[AlertView],
              counted: Callable[[str], bool] | None = None) -> list[Family] | None:
        """The families as of ``now``, or None when the last ones are younger than ``every``."""
        if self._built_at is not None and 0 <= self.clock() - self._built_at < self.every:
            return None
        self._built_at = self.clock()
        return self.view.build(agg, now, statuses, alerts, counted)

    def publish(self, families: Sequence[Family], statuses: Sequence[dict[str, Any]]) -> None:
        """Render ``families`` and serve them from now on (thread-safe: one reference is swapped)."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families(families))
        self._rendered = generate_latest(registry)
        self._published_at = self.clock()
        broken = [s["name"] for s in statuses if s["status"] == "error"]
        self._health = (f"every source is in error: {', '.join(map(str, broken))[:200]}"
                        if statuses and len(broken) == len(statuses) else "ok")

    def update(self, agg: Aggregator, now: float, statuses: Sequence[dict[str, Any]], alerts: Iterable[AlertView],
               counted: Callable[[str], bool] | None = None) -> None:
        """``build`` then ``publish`` in the caller's thread (tests, small views)."""
        families = self.build(agg, now, statuses, alerts, counted)
        if families is not None:
            self.publish(families, statuses)

    def render(self) -> bytes:
        return self._rendered

    def health(self) -> tuple[bool, str]:
        if self._published_at is None:
            return False, "no view yet"
        if self.clock() - self._published_at > STALE_AFTER:
            return False, f"no new view for {self.clock() - self._published_at:.0f} s"
        return self._health == "ok", self._health

    def routes(self) -> dict[str, Route]:
        return {"/metrics": Route(self._metrics), "/healthz": Route(self._healthz)}

    async def _metrics(self, request: Request) -> Response:
        return Response(200, self.render(), CONTENT_TYPE_LATEST)

    async def _healthz(self, request: Request) -> Response:
        ok, why = self.health()
        return Response(200 if ok else 503, (why + "\n").encode())


class _Families:
    """A prometheus_client collector over a published list of families."""

    def __init__(self, families: Sequence[Family]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        for family in self.families:
            yield _metric(family)


def _metric(family: Family) -> Metric:
    names = [name for name, _ in family.samples[0][0]] if family.samples else []
    metric: Any
    if family.kind == "counter":
        metric = CounterMetricFamily(family.name, family.help, labels=names)
    elif family.kind == "gauge":
        metric = GaugeMetricFamily(family.name, family.help, labels=names)
    elif family.kind == "stateset":
        metric = StateSetMetricFamily(family.name, family.help, labels=names)
    else:
        metric = InfoMetricFamily(family.name, family.help, labels=[])
    for labels, value in family.samples:
        values = [v for _, v in labels]
        if family.kind == "info":
            metric.add_metric([], dict(labels))
        else:
            metric.add_metric(values, value)
    return metric


class MetricsEndpoint:
    """``/metrics`` and ``/healthz`` on HOST:PORT, served in the running event loop."""

    def __init__(self, exporter: Exporter, host: str, port: int) -> None:
        self.exporter = exporter
        self.server = HttpServer(exporter.routes(), host, port)

    async def start(self) -> None:
        await self.server.start()

    @property
    def port(self) -> int:
        return self.server.port

    async def aclose(self) -> None:
        await self.server.aclose()


def endpoint_for(address: str | None, config: Config) -> MetricsEndpoint | None:
    """The ``--metrics HOST:PORT`` endpoint of the live app (None without the option)."""
    if not address:
        return None
    try:
        host, port = parse_address(address)
    except ValueError as exc:
        raise ConfigError(None, "--metrics", str(exc)) from None
    from tokentop import __version__

    return MetricsEndpoint(Exporter(MetricsView(view_settings(config), __version__)), host, port)
