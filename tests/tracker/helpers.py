"""What the browser tests share: a shop on its own origin, a switchable proxy, stored events."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from tests.support.server import free_port

# The loader of the spec ("Script eS" → Example), unchanged but for the script host.
LOADER = """!function(t, e, c, n) {
    var s = e.createElement(c);
    s.async = 1, s.src = '__BASE__/scripts/' + n + '.js';
    var r = e.scripts[0];
    r.parentNode.insertBefore(s, r);
    var f = function() {
        f.c(arguments);
    };
    f.q = [];
    f.c = function() {
        f.q.push(arguments);
    };
    t['eS'] = t['eS'] || f;
}(window, document, 'script', '__SITE__');
"""

# Short retries keep the failure tests fast; the defaults are seconds to a minute.
FAST_RETRY = {"retryBase": 100, "retryMax": 400}


def shop_page(
    script_base: str,
    site_id: str,
    calls: str = "",
    *,
    init: dict[str, Any] | None = None,
    head: str = "",
    body: str = "",
    title: str = "Test shop",
) -> str:
    """A shop page with the spec's snippet; ``calls`` run right after it (so they queue)."""
    init_call = f"eS('init', {json.dumps(init)});" if init is not None else ""
    snippet = LOADER.replace("__BASE__", script_base).replace("__SITE__", site_id)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>{head}</head>"
        f"<body>{body}<script>\n{snippet}\n{init_call}\n{calls}\n</script></body></html>"
    )


class _ShopHandler(http.server.BaseHTTPRequestHandler):
    server: ShopServer

    def do_GET(self) -> None:
        page = self.server.pages.get(self.path.split("?", 1)[0])
        if self.path == "/favicon.ico":
            self.send_response(204)
            self.end_headers()
            return
        if page is None:
            self.send_error(404)
            return
        data = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ShopServer(http.server.ThreadingHTTPServer):
    """The shop: its own origin (another port), serving registered HTML pages."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", free_port()), _ShopHandler)
        self.pages: dict[str, str] = {}
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def add(self, path: str, html: str) -> str:
        self.pages[path] = html
        return self.url + path

    def close(self) -> None:
        self.shutdown()
        self.server_close()


@dataclass
class ProxyRecord:
    method: str
    path: str
    status: int | None  # None: the connection was dropped
    body: Any
    headers: dict[str, str]


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: _ProxyListener
    # HTTP/1.0: one request per connection, so no kept-alive connection outlives down().

    def _relay(self) -> None:
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        record = ProxyRecord(
            self.command, self.path, None, body, {k.lower(): v for k, v in self.headers.items()}
        )
        with proxy.lock:
            proxy.records.append(record)
            mode = proxy.mode
        if mode.isdigit() and self.command == "POST":  # answer with that status instead
            record.status = int(mode)
            data = b'{"error":{"code":"unavailable","message":"for the test","field":null}}'
            self._answer(record.status, {"Content-Type": "application/json"}, data)
            return
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in ("host", "content-length", "connection")
        }
        upstream = httpx.request(
            self.command, proxy.upstream + self.path, content=raw, headers=headers, timeout=10
        )
        record.status = upstream.status_code
        kept = {
            k: v
            for k, v in upstream.headers.items()
            if k.lower() not in ("content-length", "content-encoding", "transfer-encoding")
            and not k.lower().startswith("connection")
        }
        self._answer(upstream.status_code, kept, upstream.content)

    def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        if not any(name.lower() == "access-control-allow-origin" for name in headers):
            headers["Access-Control-Allow-Origin"] = "*"
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_OPTIONS = _relay

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ProxyListener(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, proxy: SwitchProxy) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", port), _ProxyHandler)


@dataclass
class SwitchProxy:
    """Between the browser and the collector: passes, answers with a status of the test's
    choice (mode "503", "429", …), or is not there at all.

    ``down()`` closes the listening socket, so the browser gets a refused connection, as when
    the server is unreachable; ``up()`` listens again on the same port.
    """

    upstream: str
    port: int = field(default_factory=free_port)
    mode: str = "pass"
    records: list[ProxyRecord] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _listener: _ProxyListener | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self, mode: str = "pass") -> None:
        self.mode = mode
        if self._listener is None:
            self._listener = _ProxyListener(self.port, self)
            threading.Thread(target=self._listener.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._listener is not None:
            self._listener.shutdown()
            self._listener.server_close()
            self._listener = None

    def posts(self) -> list[ProxyRecord]:
        with self.lock:
            return [r for r in self.records if r.method == "POST"]

    def attempts(self, event_name: str) -> list[ProxyRecord]:
        """The POSTs that carried an event of that name."""
        return [
            r
            for r in self.posts()
            if isinstance(r.body, dict)
            and any(e.get("name") == event_name for e in r.body.get("events", []))
        ]


def wait_until(
    check: Callable[[], Any], timeout: float = 10.0, what: str = "condition", page: Any = None
) -> Any:
    """Poll ``check``. Pass the page when the check reads page events: Playwright's sync API
    delivers them only while it is called, so the wait happens inside the page."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        if page is not None:
            page.wait_for_timeout(50)
        else:
            time.sleep(0.05)


class StoredEvents:
    """The site's canonical events as the API lists them (oldest first here)."""

    def __init__(self, server_url: str, api_key: str) -> None:
        self.server_url = server_url
        self.headers = {"Authorization": f"Bearer {api_key}"}

    def all(self) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.server_url}/api/v1/events", params={"limit": 1000}, headers=self.headers
        )
        response.raise_for_status()
        return list(reversed(response.json()["events"]))

    def raw(self) -> str:
        return httpx.get(
            f"{self.server_url}/api/v1/events", params={"limit": 1000}, headers=self.headers
        ).text

    def wait(
        self,
        predicate: Callable[[list[dict[str, Any]]], bool] | None = None,
        *,
        count: int | None = None,
        timeout: float = 10.0,
    ) -> list[dict[str, Any]]:
        """The events once ``predicate`` holds (or at least ``count`` are stored)."""
        seen: list[dict[str, Any]] = []

        def ready() -> bool:
            nonlocal seen
            seen = self.all()
            if count is not None and len(seen) < count:
                return False
            return predicate(seen) if predicate is not None else True

        try:
            wait_until(ready, timeout, "stored events")
        except AssertionError:
            names = [(e["name"], e["type"]) for e in seen]
            raise AssertionError(f"stored events never matched; stored: {names}") from None
        return seen

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.all() if e["type"] == event_type]


def names(events: list[dict[str, Any]]) -> list[str]:
    return [e["name"] for e in events]
