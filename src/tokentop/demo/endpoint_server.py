"""The demo's usage endpoint: per-user counters over HTTP on 127.0.0.1 (an ephemeral port).

Routes (all GET, JSON, ``Cache-Control: no-store``):

- ``/user/{userId}/token-usage`` -- seed 001's document (lifetime totals, daily / monthly usage);
- ``/api/user/usage?user={userId}`` -- seed 000's document (``tokensUsed`` this month, ``tokenLimit``,
  plan). The original system picks the user from the session; the demo takes a ``user`` parameter;
- ``/api/users`` -- the user ids, so a poller can find whom to ask about.

Standard library only; bound to the loopback interface and nowhere else.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from tokentop.demo.counters import CounterStore

HOST = "127.0.0.1"


class _Handler(BaseHTTPRequestHandler):
    server: _UsageServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - the http.server naming
        status, body = self.server.route(self.path)
        payload = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # the demo runs under a full-screen app: never write to the terminal


class _UsageServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, store: CounterStore, clock: Callable[[], float]) -> None:
        super().__init__((HOST, 0), _Handler)
        self.store = store
        self.clock = clock

    def route(self, target: str) -> tuple[int, Any]:
        parts = urlsplit(target)
        path = parts.path.rstrip("/")
        now = self.clock()
        if path == "/api/users":
            return 200, {"users": self.store.users()}
        if path == "/api/user/usage":
            user = parse_qs(parts.query).get("user", [None])[0]
            if not user:
                return 400, {"ok": False, "error": "missing ?user="}
            doc = self.store.usage(user, now)
            return (200, doc) if doc is not None else (404, {"ok": False, "error": "unknown user"})
        segments = path.split("/")
        if len(segments) == 4 and segments[1] == "user" and segments[3] == "token-usage":
            doc = self.store.token_usage(unquote(segments[2]), now)
            return (200, doc) if doc is not None else (404, {"error": "unknown user"})
        return 404, {"error": "not found"}


class UsageEndpoint:
    """Serves ``store`` on 127.0.0.1 from a background thread until :meth:`close`."""

    def __init__(self, store: CounterStore, clock: Callable[[], float]) -> None:
        self._server = _UsageServer(store, clock)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="demo-endpoint", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
