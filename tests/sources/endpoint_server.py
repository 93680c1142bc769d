"""A real HTTP server on 127.0.0.1 for endpoint tests: scripted answers per path, requests recorded."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: bytes | dict | list | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    trickle: float = 0.0
    """Seconds between body bytes (a slow-loris server that never stops sending in time)."""
    etag: str | None = None
    """Answer 304 when the request's If-None-Match equals this."""
    flood: int = 0
    """Send this many bytes of body (a JSON array of ones, streamed in 64 KiB chunks) instead of ``body``."""
    chunked: bool = False
    """With ``flood``: chunked transfer encoding, no Content-Length announced."""


class UsageServer:
    """``set(path, *replies)``: the replies are served in order, the last one repeats."""

    def __init__(self) -> None:
        self.replies: dict[str, list[Reply]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.flooded = 0
        """Body bytes a flood reply got out before the client hung up."""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                outer.requests.append((self.path, dict(self.headers)))
                queue = outer.replies.get(self.path.split("?")[0]) or [Reply(404, {"error": "no route"})]
                reply = queue.pop(0) if len(queue) > 1 else queue[0]
                outer.serve(self, reply)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def set(self, path: str, *replies: Reply) -> None:
        self.replies[path] = list(replies)

    def serve(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.etag is not None and handler.headers.get("If-None-Match") == reply.etag:
            handler.send_response(304)
            handler.send_header("ETag", reply.etag)
            handler.end_headers()
            return
        if reply.flood:
            self.serve_flood(handler, reply)
            return
        body = reply.body
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        handler.send_response(reply.status)
        headers = {"Content-Type": "application/json", **reply.headers}
        if reply.etag is not None:
            headers["ETag"] = reply.etag
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        try:
            if reply.trickle:
                for i in range(len(body)):
                    handler.wfile.write(body[i:i + 1])
                    handler.wfile.flush()
                    time.sleep(reply.trickle)
            else:
                handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def serve_flood(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        handler.protocol_version = "HTTP/1.1"  # (chunked transfer encoding needs it)
        handler.send_response(reply.status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Connection", "close")
        if reply.chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Content-Length", str(reply.flood))
        handler.end_headers()
        piece = b"[" + b"1," * (32 * 1024 - 1)
        try:
            sent = 0
            while sent < reply.flood:
                chunk = piece[: reply.flood - sent]
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if reply.chunked else chunk)
                sent += len(chunk)
                self.flooded = sent
                piece = b"1," * (32 * 1024)
            if reply.chunked:
                handler.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
