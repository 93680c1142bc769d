"""The ``otlp`` source kind: an OTLP/HTTP receiver (``POST /v1/traces``, ``POST /v1/metrics``).

``tokentop otlp://127.0.0.1:4318``, or ``kind = "otlp"`` with ``listen = "HOST:PORT"`` in config.
Protobuf (what exporters send by default) and JSON, gzip or not (see :mod:`otlp_wire`). Spans and
metric points become events through the GenAI mappings in ``tokentop.core.formats`` (the same span
mapping as OTLP/JSON files); a span or point that cannot be used is a counted skip, and the client
gets a partial success naming what was rejected. A span is keyed by (trace id, span id), so a retried
export counts once; cumulative metric series become deltas (``tokentop.core.metric_deltas``).

Status codes, per the OTLP/HTTP specification: 200 (with a partial-success body when something was
rejected), 400 malformed body, 401 missing or wrong bearer token, 413 body over ``max_body`` (also
once decompressed), 415 unsupported content type or encoding, 503 (with Retry-After) while tokentop
is behind -- checked before anything is counted, so the client's retry is not taken for a duplicate.

Security: listens on 127.0.0.1 unless ``listen`` names another address; with ``token_env`` every
request must carry ``Authorization: Bearer <the variable's value>`` (compared in constant time). The
token is never shown or logged.

A receiver has no history: after a restart it resumes nothing (its checkpoint is empty). The first
point of a cumulative series that began before the receiver started only sets that series' baseline
(see ``core.metric_deltas``): usage sent while tokentop was down is not counted, and nothing twice.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from tokentop.config import Config, ConfigError
from tokentop.core.event import SkipRecord
from tokentop.core.formats import Fields
from tokentop.core.formats.genai import DEFAULT_ATTRIBUTION, Attribution, span_fields
from tokentop.core.formats.genai_metrics import MetricUsage
from tokentop.core.normalise import NormaliseOptions, Normaliser
from tokentop.httpd import HttpServer, Request, Response, Route
from tokentop.sources import otlp_wire as wire
from tokentop.sources.base import Batch, SourceStatus, new_state, state_body
from tokentop.sources.options import check_options, cost_function, role_of

OPTIONS = frozenset({"listen", "token_env", "max_body", "user_attributes", "platform_attributes", "queue"})
DEFAULT_PORT: Final = 4318
DEFAULT_MAX_BODY: Final = 4 * 1024 * 1024
IGNORED: Final = frozenset({"no_usage", "aggregate_span"})
"""Skip reasons that are not a rejection: telemetry that is simply not usage (accepted, not counted)."""


@dataclass(frozen=True, slots=True)
class OtlpSettings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token_env: str | None = None
    max_body: int = DEFAULT_MAX_BODY
    attribution: Attribution = DEFAULT_ATTRIBUTION
    queue: int = 256
    """Batches waiting for the app to take them; past that, clients get 503 and retry."""


class OtlpSource:
    kind = "otlp"

    def __init__(self, name: str, role: str, settings: OtlpSettings, normaliser: Normaliser,
                 clock: Callable[[], float] = time.time) -> None:
        self.name, self.role, self.settings, self.clock = name, role, settings, clock
        self.normaliser = normaliser
        self._token = (os.environ.get(settings.token_env) or None) if settings.token_env else None
        if settings.token_env and self._token is None:
            raise ValueError(f"${settings.token_env} is empty")
        self.metrics = MetricUsage(int(clock() * 1e9), settings.attribution)
        self.server = HttpServer({
            "/v1/traces": Route(self._traces, frozenset({"POST"}), settings.max_body, self._guard),
            "/v1/metrics": Route(self._metrics, frozenset({"POST"}), settings.max_body, self._guard),
        }, settings.host, settings.port)
        self.status = SourceStatus(name=name, kind=self.kind, detail=f"{self.address} (not listening yet)")
        self.answered: Counter[int] = Counter()
        """HTTP status -> exports answered with it (the server's own refusals are in ``server.stats``)."""
        self._queue: asyncio.Queue[Batch] = asyncio.Queue(settings.queue)

    @property
    def port(self) -> int:
        """The port listened on (the system's choice when ``listen`` asked for port 0)."""
        return self.server.port if self.server.listening else self.settings.port

    @property
    def address(self) -> str:
        host = f"[{self.settings.host}]" if ":" in self.settings.host else self.settings.host
        return f"{host}:{self.port}"

    # -- the Source interface ---------------------------------------------------------------------

    async def batches(self, follow: bool) -> AsyncIterator[Batch]:
        """Listen and yield what clients send, for as long as followed. Without ``follow`` there is
        nothing to read to its end: a receiver has no history (snapshot/check see no events)."""
        if not follow:
            self.status.state, self.status.detail = "done", f"{self.address}: a receiver has no history to read"
            return
        try:
            await self.server.start()
        except OSError as exc:
            self.status.fail(f"cannot listen on {self.address}: {exc.strerror or exc}")
            return
        self.status.detail = f"listening on {self.address}"
        self.status.state = "ok"
        try:
            while True:
                yield await self._queue.get()
        finally:
            await self.server.aclose()

    async def aclose(self) -> None:
        await self.server.aclose()

    def checkpoint(self) -> dict[str, Any]:
        """Nothing to resume: a receiver reads no history (see the module docstring)."""
        return new_state(self.kind)

    def restore(self, state: Any) -> bool:
        """Nothing to restore (the checkpoint is always empty): True for a state of this kind, else
        False with a note (the contract of ``sources.base.Source``)."""
        return state_body(state, self.kind, self.status) is not None

    @property
    def progress(self) -> None:
        """A receiver has no backlog to report progress on."""
        return None

    # -- requests ---------------------------------------------------------------------------------

    def _guard(self, request: Request) -> Response | None:
        """Refusals decided on the head: a missing or wrong token, an unsupported content type."""
        if self._token is not None:
            given = request.headers.get("authorization", "").encode("latin-1", "replace")
            if not hmac.compare_digest(given, f"Bearer {self._token}".encode("latin-1", "replace")):
                self.answered[401] += 1
                return Response(401, b"missing or wrong bearer token\n", headers=(("www-authenticate", "Bearer"),))
        if wire.encoding_of(request.headers) is None:
            self.answered[415] += 1
            return Response(415, b"unsupported Content-Type (application/x-protobuf or application/json)\n")
        return None

    async def _traces(self, request: Request) -> Response:
        return await self._export(request, "traces", self._span_parts)

    async def _metrics(self, request: Request) -> Response:
        return await self._export(request, "metrics", self._point_parts)

    async def _export(self, request: Request, kind: str, parts_of: Callable[[bytes, str], list[Any]]) -> Response:
        encoding = wire.encoding_of(request.headers)
        assert encoding is not None  # (the guard refused the others)
        if self._queue.full():
            self.answered[503] += 1
            return Response(503, b"tokentop is behind; retry\n", headers=(("retry-after", "1"),))
        try:
            plain = wire.plain_body(request.body, request.headers, self.settings.max_body)
            parts = parts_of(plain, encoding)
        except wire.WireError as exc:
            self.answered[exc.status] += 1
            body, media = wire.failure(exc.status, str(exc), encoding if exc.status != 415 else None)
            return Response(exc.status, body, media)
        now = self.clock()
        events = self.normaliser.events_from_fields(parts, now)
        rejected: Counter[str] = Counter()
        self.normaliser.deliver(lambda problem: self._skipped(problem, rejected))
        self._queue.put_nowait(Batch(events=events, retracted=self.normaliser.take_retractions()))
        self.status.saw(events, now)
        self.answered[200] += 1
        message = ", ".join(f"{reason} {n}" for reason, n in sorted(rejected.items()))
        return Response(200, wire.success(kind, encoding, sum(rejected.values()), message), wire.MEDIA[encoding])

    def _skipped(self, problem: SkipRecord, rejected: Counter[str]) -> None:
        self.status.skip(problem)
        if problem.reason not in IGNORED:
            rejected[problem.reason] += 1

    def _span_parts(self, plain: bytes, encoding: str) -> list[Fields | SkipRecord]:
        parts: list[Fields | SkipRecord] = []
        attribution = self.settings.attribution
        for span in wire.spans_of(wire.decode_traces(plain, encoding)):
            try:
                fields = span_fields(span, attribution)
                fields["format"] = "otlp"
                parts.append(fields)
            except SkipRecord as problem:
                parts.append(problem)
        return parts

    def _point_parts(self, plain: bytes, encoding: str) -> list[Fields | SkipRecord]:
        points = list(wire.points_of(wire.decode_metrics(plain, encoding)))
        skips: list[Fields | SkipRecord] = [p for p in points if isinstance(p, SkipRecord)]
        return skips + self.metrics.parts(p for p in points if not isinstance(p, SkipRecord))


# -- configuration ------------------------------------------------------------------------------------

def parse_listen(value: Any, where: str, config: Config) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` (127.0.0.1), ``[::1]:PORT``; the port defaults to 4318."""
    if not isinstance(value, str):
        raise ConfigError(config.path, where, "must be a string like '127.0.0.1:4318'")
    try:
        parts = urlsplit("//" + value.removeprefix("otlp://").removeprefix("http://"))
        host, port = parts.hostname or "127.0.0.1", parts.port
    except ValueError as exc:
        raise ConfigError(config.path, where, f"not HOST:PORT ({exc})") from None
    if parts.path not in ("", "/") or parts.username or parts.query:
        raise ConfigError(config.path, where, "must be HOST:PORT, nothing else")
    return host, DEFAULT_PORT if port is None else port


def _names(options: Mapping[str, Any], key: str, default: Sequence[str], where: str, config: Config) -> tuple[str, ...]:
    value = options.get(key, default)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(config.path, f"{where}.{key}", "must be a list of attribute names")
    return tuple(value)


def make_source(name: str, options: Mapping[str, Any], config: Config,
                clock: Callable[[], float] = time.time) -> OtlpSource:
    where = f"sources.{name}"
    check_options(name, options, OPTIONS, config)
    for key in ("format", "fields"):
        if key in options:
            raise ConfigError(config.path, f"{where}.{key}", "an otlp source reads OTLP, nothing else")
    host, port = parse_listen(options.get("listen", "127.0.0.1:4318"), f"{where}.listen", config)
    max_body = options.get("max_body", DEFAULT_MAX_BODY)
    if isinstance(max_body, bool) or not isinstance(max_body, int) or not 1024 <= max_body <= 1 << 30:
        raise ConfigError(config.path, f"{where}.max_body", "must be a number of bytes from 1024 to 1 GiB")
    queue = options.get("queue", 256)
    if isinstance(queue, bool) or not isinstance(queue, int) or queue < 1:
        raise ConfigError(config.path, f"{where}.queue", "must be a whole number of batches (>= 1)")
    token_env = options.get("token_env")
    if token_env is not None and (not isinstance(token_env, str) or not token_env):
        raise ConfigError(config.path, f"{where}.token_env", "must name an environment variable")
    if token_env and not os.environ.get(token_env):
        raise ConfigError(config.path, f"{where}.token_env",
                          f"${token_env} is empty: refusing to listen without the token it should hold")
    attribution = Attribution(_names(options, "user_attributes", DEFAULT_ATTRIBUTION.user, where, config),
                              _names(options, "platform_attributes", DEFAULT_ATTRIBUTION.platform, where, config))
    settings = OtlpSettings(host, port, token_env, max_body, attribution, queue)
    default = options.get("default_token_source", "actual")
    if default not in ("actual", "estimated"):
        raise ConfigError(config.path, f"{where}.default_token_source", "must be 'actual' or 'estimated'")
    normaliser = Normaliser(NormaliseOptions(source=name, default_token_source=default, keep_raw=False),
                            cost_of=cost_function(config))
    return OtlpSource(name, role_of(name, options, config), settings, normaliser, clock)
