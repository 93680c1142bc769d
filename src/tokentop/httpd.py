"""A small HTTP/1.1 server in the app's event loop: the OTLP/HTTP receiver and ``/metrics`` use it.

Built on ``h11`` (the sans-I/O HTTP/1.1 state machine httpx already depends on, kept by python-hyper)
over asyncio streams, rather than aiohttp or an ASGI server: tokentop needs four routes, exact control
over how much of a body is read (the cap is enforced while reading, before anything is buffered past
it), and to run inside the loop the Textual app already owns -- not a framework with its own loop
policy, dependency tree and access log. h11 does the protocol work that is easy to get wrong
(framing, chunked bodies, keep-alive, pipelining refusal); this module only moves bytes and enforces
limits.

Limits, so that a slow or hostile client never holds the screen or memory: a request's head and body
must arrive within ``request_timeout`` (a trickling client gets 408 and is dropped; an idle
keep-alive connection is closed after as long); a body over its route's ``max_body`` is
answered 413 as soon as the declared length or the bytes read pass it, and the connection closed;
at most ``max_connections`` are served at once (the rest get 503).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

import h11

MAX_HEAD: Final = 16 * 1024
LINGER_SECONDS: Final = 2.0
LINGER_BYTES: Final = 16 * 1024 * 1024


@dataclass(slots=True)
class Request:
    method: str
    path: str
    """The target without its query string."""
    headers: dict[str, str]
    """Lower-case names; a repeated header's values joined with ``, ``."""
    body: bytes = b""


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[[Request], Awaitable[Response]]
Guard = Callable[[Request], Response | None]
"""Checked on the request head, before any of the body is read: a Response refuses the request."""


@dataclass(frozen=True, slots=True)
class Route:
    handler: Handler
    methods: frozenset[str] = frozenset({"GET"})
    max_body: int = 0
    guard: Guard | None = None


@dataclass(slots=True)
class ServerStats:
    requests: int = 0
    refused: dict[int, int] = field(default_factory=dict)
    """Status -> count of requests answered with an error status by the server itself."""
    handler_errors: int = 0


class HttpServer:
    def __init__(self, routes: Mapping[str, Route], host: str, port: int, *, request_timeout: float = 30.0,
                 max_connections: int = 128) -> None:
        self.routes = dict(routes)
        self.host, self.requested_port = host, port
        self.request_timeout = request_timeout
        self.max_connections = max_connections
        self.stats = ServerStats()
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind and listen (OSError if the address is taken or not allowed)."""
        self._server = await asyncio.start_server(self._accept, self.host, self.requested_port,
                                                  limit=MAX_HEAD * 4)

    @property
    def listening(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        """The bound port (the one the system chose when asked for 0)."""
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def aclose(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if server is not None:
            with contextlib.suppress(Exception):
                await server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            if len(self._connections) > self.max_connections:
                await self._send(h11.Connection(h11.SERVER), writer, _plain(503, "too many connections"), close=True)
                return
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: nothing to answer
        except asyncio.CancelledError:
            # The server is closing. This is the connection task's top level: ending is what was
            # asked, and asyncio's stream callback would log a cancelled task as an error.
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        while True:
            try:
                async with asyncio.timeout(self.request_timeout):  # head and body, or an idle connection
                    outcome = await self._read_request(conn, reader)
            except TimeoutError:
                if conn.their_state is not h11.IDLE:  # (an idle keep-alive connection is just closed)
                    await self._send(conn, writer, self._refuse(408, "request took too long"), close=True)
                return
            except h11.RemoteProtocolError as exc:
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await self._send(conn, writer, self._refuse(exc.error_status_hint, "malformed HTTP request"),
                                     close=True)
                return
            if outcome is None:
                return  # the client closed the connection between requests
            response, complete = outcome
            if complete:
                self.stats.requests += 1
            await self._send(conn, writer, response, close=not complete)
            if not complete:
                await _linger(reader, writer)
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()

    async def _read_request(self, conn: h11.Connection, reader: asyncio.StreamReader
                            ) -> tuple[Response, bool] | None:
        """The response to the next request, and whether its body was read whole (else the connection
        closes after the response). None when the client closed the connection."""
        event = await _next(conn, reader)
        if not isinstance(event, h11.Request):
            return None
        request = Request(event.method.decode("ascii", "replace"),
                          event.target.decode("ascii", "replace").partition("?")[0], _headers(event.headers))
        refusal = self._check_head(request)
        if refusal is not None:
            return refusal, False
        route = self.routes[request.path]
        body = bytearray()
        while True:
            event = await _next(conn, reader)
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > route.max_body:  # (a chunked body declares no length)
                    return self._refuse(413, f"body over {route.max_body} bytes"), False
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                return None
        request.body = bytes(body)
        try:
            return await route.handler(request), True
        except Exception:  # noqa: BLE001 - a handler's bug answers 500; the server and the app go on
            self.stats.handler_errors += 1
            return _plain(500, "internal error"), True

    def _check_head(self, request: Request) -> Response | None:
        """A refusal decided on the head alone (before any of the body is read), or None."""
        route = self.routes.get(request.path)
        if route is None:
            return self._refuse(404, "not found")
        if request.method not in route.methods:
            return self._refuse(405, "method not allowed", (("allow", ", ".join(sorted(route.methods))),))
        refusal = route.guard(request) if route.guard is not None else None
        if refusal is not None:
            self._count(refusal.status)
            return refusal
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > route.max_body:
            return self._refuse(413, f"body over {route.max_body} bytes")
        return None

    def _refuse(self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
        self._count(status)
        return Response(status, (message + "\n").encode(), headers=headers)

    def _count(self, status: int) -> None:
        self.stats.refused[status] = self.stats.refused.get(status, 0) + 1

    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, response: Response,
                    close: bool = False) -> None:
        headers = [("content-type", response.content_type), ("content-length", str(len(response.body))),
                   *response.headers]
        if close:
            headers.append(("connection", "close"))
        try:
            data = conn.send(h11.Response(status_code=response.status, headers=headers))
            data += conn.send(h11.Data(data=response.body)) if response.body else b""
            data += conn.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            return  # (the connection is in no state to answer: just close it)
        writer.write(data)
        async with asyncio.timeout(self.request_timeout):  # a client that never reads is dropped
            await writer.drain()


async def _next(conn: h11.Connection, reader: asyncio.StreamReader) -> object:
    """The next h11 event, reading from the socket as h11 needs (b"" tells it the peer closed)."""
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(await reader.read(65536))


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """After refusing a request whose body is still coming: stop sending, and read (and drop) what the
    client still sends for a moment, so that closing does not reset the connection before the client
    read the answer. Bounded in time and bytes."""
    with contextlib.suppress(OSError, RuntimeError):
        if writer.can_write_eof():
            writer.write_eof()
    dropped = 0
    with contextlib.suppress(TimeoutError, ConnectionError):
        async with asyncio.timeout(LINGER_SECONDS):
            while dropped < LINGER_BYTES and (data := await reader.read(65536)):
                dropped += len(data)


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in raw:
        key, text = name.decode("ascii", "replace").lower(), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def _plain(status: int, message: str) -> Response:
    return Response(status, (message + "\n").encode())
