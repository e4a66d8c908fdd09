"""A real HTTP server on a thread, serving feeds the way shops' servers do (or fail to)."""

from __future__ import annotations

import gzip
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    gzip: bool = False
    etag: str | None = None
    last_modified: str | None = None
    delay_s: float = 0.0
    content_type: str = "application/xml"
    location: str | None = None  # answered with 302 to here
    drip: tuple[int, float] | None = None  # (bytes, seconds): the body sent that slowly


@dataclass
class FeedServer:
    port: int
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)  # TLS SNI, per handshake

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet tests
            pass

        def do_GET(self) -> None:
            server.requests.append({k.lower(): v for k, v in self.headers.items()})
            route = server.routes.get(self.path)
            if route is None:
                self.send_error(404, "Not Found")
                return
            if route.delay_s:
                time.sleep(route.delay_s)
            if route.location is not None:
                self.send_response(302)
                self.send_header("Location", route.location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if route.etag and self.headers.get("If-None-Match") == route.etag:
                self.send_response(304)
                self.end_headers()
                return
            if (
                route.last_modified
                and not route.etag
                and self.headers.get("If-Modified-Since") == route.last_modified
            ):
                self.send_response(304)
                self.end_headers()
                return
            body = route.body
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            if route.gzip and "gzip" in self.headers.get("Accept-Encoding", ""):
                body = gzip.compress(body)
                self.send_header("Content-Encoding", "gzip")
            if route.etag:
                self.send_header("ETag", route.etag)
            if route.last_modified:
                self.send_header("Last-Modified", route.last_modified)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                if route.drip is None:
                    self.wfile.write(body)
                    return
                size, pause = route.drip
                for start in range(0, len(body), size):
                    self.wfile.write(body[start : start + size])
                    self.wfile.flush()
                    time.sleep(pause)

    return Handler


@contextmanager
def feed_server(tls: ssl.SSLContext | None = None) -> Iterator[FeedServer]:
    """A server on 127.0.0.1; with ``tls``, HTTPS with that context (server names recorded)."""
    state = FeedServer(port=0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    if tls is not None:

        def record(_socket: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
            state.server_names.append(name)

        tls.sni_callback = record  # type: ignore[assignment]
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    httpd.daemon_threads = True
    state.port = int(httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
