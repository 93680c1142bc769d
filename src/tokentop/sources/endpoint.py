"""Poll a remote per-user usage endpoint with httpx and turn its counters into readings and usage.

Every request has a total deadline (``asyncio.timeout``: httpx's read timeout is per chunk, so a server
trickling bytes would otherwise hold a poll forever), retries with exponential backoff and full jitter,
honours ``Retry-After`` on 429/503, and sends ``If-None-Match`` (a 304 is "unchanged"). Every failure
becomes a distinct, readable status; once a target that answered before keeps failing the source is
``stale`` with the age of its last good response. The token is read from the environment, checked
before first use and never shown: see endpoint_secrets. Redirects are not followed, so a token is never
sent to another host. A body is read as it streams in and given up past ``max_body_bytes`` (1 MiB by
default, ``[limits]``): an endpoint answering with a gigabyte costs a megabyte and an error status.

An endpoint has no history to read: whatever ``start`` says, the first reading of a counter is its
baseline. The resume state is each target's last reading (and ETag), so that after a restart the growth
since the last reading is the usage -- not the whole counter, nor nothing.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from tokentop.config import DEFAULT_MAX_BODY_BYTES, Config, ConfigError
import msgspec

from tokentop.core.event import CounterReading
from tokentop.sources.base import Batch, Progress, SourceStatus, UserLimit, new_state, state_body, state_ignored
from tokentop.sources.endpoint_secrets import header_problem, redact, redact_url, remember
from tokentop.sources.endpoint_shapes import SHAPES, CounterDeltas, ShapeError, read_body
from tokentop.sources.options import check_options, role_of, start_of

OPTIONS = frozenset({"url", "users", "user", "interval", "token_env", "header", "timeout", "retries", "verify",
                     "shape", "trust_env", "backoff", "max_backoff", "max_body_bytes"})
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
"""An HTTP header name (RFC 9110 token)."""


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    url: str
    users: tuple[str, ...] = ()
    user: str | None = None
    """The user of a URL without ``{user}`` (a body naming its user, ``userId``, wins); None: the
    source's name, so its gauge is shown all the same."""
    interval: float = 10.0
    token_env: str = "TOKENTOP_HTTP_TOKEN"
    header: str = "Authorization"
    timeout: float = 10.0
    """Total deadline of one request, connect to last byte."""
    retries: int = 2
    verify: bool = True
    shape: str = "auto"
    trust_env: bool = True
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """A response body longer than this is not read (an error, not a reading)."""


@dataclass(slots=True)
class Target:
    """One URL polled for one user, and what its last answers were."""

    user: str
    url: str
    etag: str | None = None
    last: CounterReading | None = None
    last_good: float | None = None
    error: str | None = None


class SavedTarget(msgspec.Struct):
    user: str
    etag: str | None
    last: CounterReading | None


class EndpointState(msgspec.Struct):
    """An endpoint source's resume state (after ``kind``/``version``)."""

    targets: list[SavedTarget]
    previous: list[CounterReading]


def _renamed(reading: CounterReading, source: str) -> CounterReading:
    return reading if reading.source == source else msgspec.structs.replace(reading, source=source)


@dataclass(slots=True)
class Failure:
    message: str
    retryable: bool = False
    retry_after: float | None = None


@dataclass(slots=True)
class Answer:
    reading: CounterReading
    limit: UserLimit | None = None


class EndpointSource:
    kind = "http"

    def __init__(self, name: str, role: str, settings: EndpointSettings,
                 clock: Callable[[], float] = time.time) -> None:
        self.name, self.role, self.settings = name, role, settings
        self.clock = clock
        """Stamps counter readings and status; Retry-After dates are compared with the wall clock."""
        self._token = os.environ.get(settings.token_env) or None
        if self._token is not None and (problem := header_problem(self._token)):
            raise ConfigError(None, f"${settings.token_env}", f"cannot be sent in an HTTP header (source {name}): "
                                                             f"{problem}; the value is not shown")
        remember(self._token)
        self.status = SourceStatus(name=name, kind=self.kind, detail=redact_url(settings.url))
        self.deltas = CounterDeltas(name)
        self.targets = _targets(settings, name)
        self._client: httpx.AsyncClient | None = None

    async def batches(self, follow: bool) -> AsyncIterator[Batch]:
        try:
            while True:
                batch = await self._poll_all()
                if batch:
                    yield batch
                if not follow:
                    return
                await asyncio.sleep(self.settings.interval)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    @property
    def progress(self) -> Progress | None:
        return None  # nothing to read back: counters are read as they are now

    def checkpoint(self) -> dict[str, Any]:
        """Per target (by user; never the URL, which may hold a key) its ETag and last reading, and
        the last reading of each counter the usage deltas are taken from."""
        return new_state(self.kind, targets=[
            {"user": t.user, "etag": t.etag, "last": None if t.last is None else msgspec.to_builtins(t.last)}
            for t in self.targets], previous=[msgspec.to_builtins(r) for r in self.deltas.previous.values()])

    def restore(self, state: Mapping[str, Any]) -> bool:
        body = state_body(state, self.kind, self.status)
        if body is None:
            return False
        try:
            resumed = msgspec.convert({k: v for k, v in body.items() if k not in ("kind", "version")}, EndpointState)
        except msgspec.ValidationError as exc:
            return state_ignored(self.status, f"not an endpoint state ({exc})")
        targets = {t.user: t for t in self.targets}
        for saved in resumed.targets:
            target = targets.get(saved.user)
            if target is not None and saved.last is not None:
                target.etag, target.last = saved.etag, _renamed(saved.last, self.name)
        for reading in resumed.previous:
            self.deltas.previous[reading.user] = _renamed(reading, self.name)
        return True

    async def _poll_all(self) -> Batch:
        if self._client is None:
            s = self.settings
            self._client = httpx.AsyncClient(
                verify=s.verify, trust_env=s.trust_env, follow_redirects=False,
                timeout=httpx.Timeout(s.timeout), headers={"Accept": "application/json", "User-Agent": "tokentop"},
            )
        answers = await asyncio.gather(*(self._poll(t) for t in self.targets))
        batch = Batch()
        for answer in answers:
            if answer is None:
                continue
            batch.readings.append(answer.reading)
            if answer.limit is not None:
                batch.limits.append(answer.limit)
            event = self.deltas.update(answer.reading)
            if event is not None:
                batch.events.append(event)
        self._summarise(batch)
        return batch

    async def _poll(self, target: Target) -> Answer | None:
        attempt = 0
        while True:
            outcome = await self._request(target)
            if isinstance(outcome, Answer):
                target.error, target.last_good = None, outcome.reading.at
                return outcome
            if not outcome.retryable or attempt >= self.settings.retries:
                target.error = outcome.message
                return None
            ceiling = min(self.settings.max_backoff, self.settings.backoff * 2 ** attempt)
            delay = outcome.retry_after if outcome.retry_after is not None else random.uniform(0, ceiling)
            await asyncio.sleep(min(delay, self.settings.max_backoff))
            attempt += 1

    async def _request(self, target: Target) -> Answer | Failure:
        assert self._client is not None
        headers = {}
        if self._token:
            scheme = "Bearer " if self.settings.header.lower() == "authorization" else ""
            headers[self.settings.header] = scheme + self._token
        if target.etag:
            headers["If-None-Match"] = target.etag
        try:
            async with asyncio.timeout(self.settings.timeout):
                async with self._client.stream("GET", target.url, headers=headers) as response:
                    body = await self._body(response)
        except TimeoutError:
            return Failure(f"timed out: no complete response within {self.settings.timeout:g} s", retryable=True)
        except httpx.TimeoutException as exc:
            return Failure(f"timed out ({type(exc).__name__})", retryable=True)
        except httpx.ConnectError as exc:
            refused = _caused_by(exc, ConnectionRefusedError) or "refused" in str(exc).lower()
            what = "connection refused" if refused else f"cannot connect ({redact(str(exc), self._secrets())})"
            return Failure(f"{what}: {self._where(target)}", retryable=True)
        except httpx.HTTPError as exc:
            return Failure(f"{type(exc).__name__}: {redact(str(exc), self._secrets())}", retryable=True)
        if isinstance(body, Failure):
            return body
        return self._answer(target, response, body)

    async def _body(self, response: httpx.Response) -> bytes | Failure | None:
        """The body of a 200 answer, read as it streams in and given up once it is longer than
        ``max_body_bytes`` (None for any other status: its body is never used)."""
        if response.status_code != 200:
            return None
        cap = self.settings.max_body_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            return self._too_large(f"{int(declared):,} bytes announced")
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():  # decoded: a compressed body counts at its real size
            size += len(chunk)
            if size > cap:
                return self._too_large("the body kept coming")
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, why: str) -> Failure:
        cap = self.settings.max_body_bytes
        return Failure(f"response too large: over {cap:,} bytes ({why}); not read (max_body_bytes)")

    def _answer(self, target: Target, response: httpx.Response, content: bytes | None) -> Answer | Failure:
        code, now = response.status_code, self.clock()
        if code == 304 and target.last is not None:
            reading = _copy_at(target.last, now)
            target.last = reading
            return Answer(reading, _limit_of(reading))
        if code != 200 or content is None:
            return self._failure(target, response)
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError:
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            return Failure(f"response is not JSON ({kind}, {len(content)} bytes)")
        try:
            reading, limit = read_body(body, self.settings.shape, self.name, target.user, now)
        except ShapeError as exc:
            return Failure(f"unexpected response shape: {redact(str(exc), self._secrets())}")
        target.etag, target.last = response.headers.get("etag"), reading
        return Answer(reading, limit)

    def _failure(self, target: Target, response: httpx.Response) -> Failure:
        code = response.status_code
        if code in (401, 403):
            why = "unauthorized" if code == 401 else "forbidden"
            token = (f"the token in ${self.settings.token_env} was refused" if self._token
                     else f"no token: ${self.settings.token_env} is not set")
            return Failure(f"{why} (HTTP {code}): {token}")
        if code == 404:
            return Failure(f"not found (HTTP 404): {self._where(target)}")
        if code in (429, 503) or code >= 500:
            label = {429: "rate limited", 503: "unavailable"}.get(code, "server error")
            return Failure(f"{label} (HTTP {code})", retryable=True, retry_after=_retry_after(response))
        if 300 <= code < 400:
            location = redact_url(response.headers.get("location", "?"))
            return Failure(f"redirected (HTTP {code}) to {location}; redirects are not followed, set url to it")
        return Failure(f"unexpected HTTP {code}")

    def _summarise(self, batch: Batch) -> None:
        status, now = self.status, self.clock()
        failing = [t for t in self.targets if t.error is not None]
        if batch.readings:
            status.saw(batch.events, now)
        resets = f" · counter resets: {self.deltas.resets} (last {self.deltas.last_reset})" if self.deltas.resets else ""
        if not failing:
            status.error, status.state, status.lag_seconds = None, "ok", 0.0
            status.detail = f"{redact_url(self.settings.url)} · {len(self.targets)} target(s) ok{resets}"
            return
        first = failing[0]
        status.error = first.error if len(self.targets) == 1 else f"{first.user}: {first.error}"
        goods = [t.last_good for t in failing if t.last_good is not None]
        if goods:
            status.state = "stale"
            status.lag_seconds = now - min(goods)
            status.detail = f"last good response {status.lag_seconds:.0f} s ago{resets}"
        else:
            status.state, status.lag_seconds = "error", None
            status.detail = f"{redact_url(self.settings.url)} · no good response yet{resets}"

    def _where(self, target: Target) -> str:
        return redact_url(target.url)

    def _secrets(self) -> set[str]:
        return {self._token} if self._token else set()


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind) or any(isinstance(e, kind) for e in getattr(seen, "exceptions", ())):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _copy_at(reading: CounterReading, at: float) -> CounterReading:
    from msgspec.structs import replace

    return replace(reading, at=at)


def _limit_of(reading: CounterReading) -> UserLimit | None:
    if reading.limit is None and reading.plan is None:
        return None
    return UserLimit(user=reading.user, limit=reading.limit, plan=reading.plan)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _targets(settings: EndpointSettings, name: str) -> list[Target]:
    if "{user}" in settings.url:
        return [Target(user, settings.url.replace("{user}", quote(user, safe=""))) for user in settings.users]
    return [Target(settings.user or name, settings.url)]


def make_source(name: str, options: Mapping[str, Any], config: Config,
                clock: Callable[[], float] = time.time) -> EndpointSource:
    check_options(name, options, OPTIONS, config)

    def bad(key: str, problem: str) -> ConfigError:
        return ConfigError(config.path, f"sources.{name}.{key}", problem)

    url = options.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise bad("url", "an endpoint source needs an http:// or https:// url")
    users = options.get("users", [])
    if not isinstance(users, list) or not all(isinstance(u, str) and u for u in users):
        raise bad("users", "must be a list of user ids")
    if "{user}" in url and not users:
        raise bad("users", "the url has {user}: list the users to poll")
    if options.get("shape", "auto") not in SHAPES:
        raise bad("shape", f"must be one of {', '.join(SHAPES)}")
    values: dict[str, Any] = {"max_body_bytes": config.limits.max_body_bytes}
    for key, kind in (("interval", float), ("timeout", float), ("backoff", float), ("max_backoff", float),
                      ("retries", int), ("max_body_bytes", int)):
        if key in options:
            value = options[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (
                    kind is int and not isinstance(value, int)) or (kind is float and value == 0):
                raise bad(key, "must be a positive number" if kind is float else "must be a whole number >= 0")
            values[key] = kind(value)
    for key in ("verify", "trust_env"):
        if key in options:
            if not isinstance(options[key], bool):
                raise bad(key, "must be true or false")
            values[key] = options[key]
    for key in ("user", "token_env", "header", "shape"):
        if key in options:
            if not isinstance(options[key], str) or not options[key]:
                raise bad(key, "must be a non-empty string")
            values[key] = options[key]
    if not _HEADER_NAME.fullmatch(values.get("header", "Authorization")):
        raise bad("header", "must be an HTTP header name (letters, digits and !#$%&'*+.^_`|~-)")
    if values["max_body_bytes"] < 1:
        raise bad("max_body_bytes", "must be a whole number >= 1")
    settings = EndpointSettings(url=url, users=tuple(users), **values)
    start_of(name, options, config)  # checked like every kind's; an endpoint has no history to place it in
    return EndpointSource(name, role_of(name, options, config), settings, clock)
