"""Where a feed's bytes come from: HTTP(S) with httpx, or a local file.

HTTP: connect and read timeouts, redirects (at most 5), a size cap on the bytes received
(checked against ``Content-Length`` first, then while reading, after ``Content-Encoding``
gzip is undone, so a compressed bomb is caught too), a deadline for the whole download, and
conditional requests: the ETag and Last-Modified of the last good import are sent back, and
``304 Not Modified`` means there is nothing to do. Every hop connects to an address resolved and
checked for it (``pinning.py``); a body arriving slower than a minimum rate is given up.
Feeds are fetched directly, never through ``HTTP(S)_PROXY``: a proxy would resolve the names
itself, out of reach of the check.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlsplit

import httpx

from shoptrack import __version__
from shoptrack.catalog.errors import FeedError, FeedErrorCode
from shoptrack.catalog.pinning import (
    ALLOW_PRIVATE_HOSTS,
    IPAddress,
    PinnedTransport,
    Resolver,
    default_port,
    first_private,
    parse_address,
    system_resolver,
)
from shoptrack.catalog.streams import ChunkStream, LimitedStream, MinimumRate, buffered

USER_AGENT = f"shoptrack/{__version__} (feed import)"


class NotModified(Exception):
    """The server answered 304: the feed has not changed since the last good import."""


@dataclass(frozen=True, slots=True)
class FetchOptions:
    timeout_s: float
    max_bytes: int
    deadline: float | None  # time.monotonic() after which reading stops
    # Feeds may be registered by any API-key holder: by default they may not make this
    # server reach loopback, private, link-local or reserved addresses (SSRF).
    allow_private_hosts: bool = False
    # A body slower than this on average over ``rate_window_s`` of waiting fails (0: no floor).
    min_bytes_per_s: int = 0
    rate_window_s: float = 30.0
    resolve: Resolver = system_resolver
    # The transport that reaches the pinned addresses (tests give a network of their own).
    network: Callable[[], httpx.BaseTransport] = httpx.HTTPTransport


@dataclass(slots=True)
class FeedStream:
    stream: IO[bytes]
    total_bytes: int | None
    position: Callable[[], int]  # bytes received so far (on the wire), for progress
    etag: str | None = None
    last_modified: str | None = None


def is_url(location: str) -> bool:
    return urlsplit(location).scheme.lower() in ("http", "https")


def local_path(location: str) -> Path:
    parts = urlsplit(location)
    if parts.scheme.lower() == "file":
        return Path(unquote(parts.path))
    return Path(location).expanduser()


@contextmanager
def open_feed(
    location: str,
    options: FetchOptions,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Iterator[FeedStream]:
    if is_url(location):
        with _open_http(location, options, etag, last_modified) as opened:
            yield opened
        return
    path = local_path(location)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise FeedError(FeedErrorCode.UNREACHABLE, f"no such file: {path}") from None
    except OSError as exc:
        raise FeedError(FeedErrorCode.UNREACHABLE, f"cannot open {path}: {exc}") from None
    with handle:
        size = path.stat().st_size
        if size > options.max_bytes:
            raise _too_large(size, options.max_bytes)
        limited = LimitedStream(handle, options.max_bytes, options.deadline)
        yield FeedStream(buffered(limited), size, handle.tell)


def _too_large(size: int, limit: int) -> FeedError:
    return FeedError(
        FeedErrorCode.TOO_LARGE,
        f"the feed is {size} bytes, over the limit of {limit} (setting SHOPTRACK_FEED_MAX_BYTES)",
    )


@contextmanager
def _open_http(
    url: str, options: FetchOptions, etag: str | None, last_modified: str | None
) -> Iterator[FeedStream]:
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    timeout = httpx.Timeout(options.timeout_s)
    # Every request, redirects included, goes through it: resolved, checked, pinned.
    transport = PinnedTransport(options.network(), options.resolve, options.allow_private_hosts)
    try:
        with (
            httpx.Client(
                timeout=timeout, follow_redirects=True, max_redirects=5, transport=transport
            ) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            if response.status_code == 304:
                raise NotModified()
            if response.status_code >= 400:
                raise FeedError(
                    FeedErrorCode.HTTP_ERROR,
                    f"{_short(url)} answered HTTP {response.status_code} "
                    f"{response.reason_phrase}".rstrip(),
                )
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > options.max_bytes:
                raise _too_large(total, options.max_bytes)
            floor = (
                MinimumRate(options.min_bytes_per_s, options.rate_window_s)
                if options.min_bytes_per_s > 0
                else None
            )
            body = ChunkStream(_chunks(response, url, floor))
            limited = LimitedStream(body, options.max_bytes, options.deadline)
            yield FeedStream(
                buffered(limited),
                total,
                lambda: response.num_bytes_downloaded,
                response.headers.get("ETag"),
                response.headers.get("Last-Modified"),
            )
    except httpx.HTTPError as exc:
        raise _http_failure(exc, url) from None


def private_address(host: str, port: int) -> IPAddress | None:
    """The first address of ``host`` that is not public (loopback, private, link-local …)."""
    try:
        return first_private([parse_address(a) for a in system_resolver(host, port)])
    except (OSError, ValueError):
        return None  # unresolvable: the import reports it as unreachable


def private_feed_warning(url: str, allowed: bool) -> str | None:
    """What to tell whoever adds ``url`` when its imports will be refused as private."""
    parsed = httpx.URL(url)
    if allowed or parsed.scheme not in ("http", "https") or not parsed.host:
        return None
    address = private_address(parsed.host, default_port(parsed))
    if address is None:
        return None
    return (
        f"{parsed.host} resolves to {address}, a private or local address: its imports will be "
        f"refused unless you set {ALLOW_PRIVATE_HOSTS}"
    )


def _chunks(response: httpx.Response, url: str, floor: MinimumRate | None) -> Iterator[bytes]:
    # Pieces as they arrive (no chunk size: httpx would gather 64 KiB before a dripping feed
    # gave us a chance to measure it). Only the time spent waiting on the network is measured,
    # not the parser's or the store's.
    pieces = response.iter_bytes()
    try:
        while True:
            started = time.monotonic()
            piece = next(pieces, None)
            if floor is not None:
                floor.observe(response.num_bytes_downloaded, time.monotonic() - started)
            if piece is None:
                return
            yield piece
    except httpx.HTTPError as exc:
        raise _http_failure(exc, url) from None


def _http_failure(exc: httpx.HTTPError, url: str) -> FeedError:
    where = _short(url)
    if isinstance(exc, httpx.TimeoutException):
        kind = "connecting to" if isinstance(exc, httpx.ConnectTimeout) else "waiting for"
        return FeedError(FeedErrorCode.TIMEOUT, f"timed out {kind} {where}")
    if isinstance(exc, httpx.DecodingError):
        return FeedError(FeedErrorCode.NOT_A_FEED, f"{where}: the compressed body is corrupt")
    if isinstance(exc, httpx.ConnectError):
        return FeedError(FeedErrorCode.UNREACHABLE, f"cannot connect to {where}: {exc}")
    if isinstance(exc, httpx.TooManyRedirects):
        return FeedError(FeedErrorCode.UNREACHABLE, f"{where}: too many redirects")
    return FeedError(FeedErrorCode.UNREACHABLE, f"{where}: {type(exc).__name__}: {exc}")


def _short(url: str) -> str:
    """The URL without credentials or query (a feed URL may carry a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"
