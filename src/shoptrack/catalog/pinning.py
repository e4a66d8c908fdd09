"""Connect to the address that was checked: the feed fetcher's answer to DNS rebinding.

Checking a name with one lookup and letting the HTTP client look it up again to connect leaves
a gap: a name server may answer a public address to the check and ``127.0.0.1`` to the
connection. :class:`PinnedTransport` closes it by resolving each request's host once, checking
every address of the answer, and sending the request to one of those addresses (the URL's host
replaced by it). The name stays in the ``Host`` header, and for HTTPS in the TLS server name
(httpcore's ``sni_hostname`` extension), so virtual hosting, SNI and certificate verification
all still concern the name. The client follows redirects through this transport, so every hop
is resolved, checked and pinned the same way.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

import httpx

from shoptrack.catalog.errors import FeedError, FeedErrorCode

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port → the addresses to connect to (a seam: tests answer as a rebinding server would).
Resolver = Callable[[str, int], list[str]]

ALLOW_PRIVATE_HOSTS = (
    "SHOPTRACK_FEED_ALLOW_PRIVATE_HOSTS=true for the process that imports feeds (shoptrack serve "
    "or shoptrack worker for scheduled and API imports, the shell for shoptrack feeds import)"
)


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of ``host`` from the system's resolver, in its order, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse_address(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%")[0])  # no IPv6 zone index


def first_private(addresses: list[IPAddress]) -> IPAddress | None:
    """The first address that is not public (loopback, private, link-local, reserved …)."""
    return next((address for address in addresses if not address.is_global), None)


def default_port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


class PinnedTransport(httpx.BaseTransport):
    """Sends each request to an address of its host that was resolved and checked just now."""

    def __init__(
        self, network: httpx.BaseTransport, resolve: Resolver, allow_private_hosts: bool
    ) -> None:
        self._network = network
        self._resolve = resolve
        self._allow_private_hosts = allow_private_hosts

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.raw_host.decode("ascii")
        addresses = self._checked_addresses(request, host)
        extensions = dict(request.extensions)
        if request.url.scheme == "https":
            extensions["sni_hostname"] = host
        failure: httpx.TransportError | None = None
        for address in addresses:  # all checked: any of them may serve the request
            pinned = httpx.Request(
                request.method,
                request.url.copy_with(host=str(address)),
                headers=request.headers,  # Host: the name, set from the original URL
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return self._network.handle_request(pinned)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    def _checked_addresses(self, request: httpx.Request, host: str) -> list[IPAddress]:
        try:
            addresses = [parse_address(host)]  # an address in the URL: nothing to resolve
        except ValueError:
            try:
                addresses = [
                    parse_address(a) for a in self._resolve(host, default_port(request.url))
                ]
            except (OSError, ValueError) as exc:
                raise httpx.ConnectError(f"cannot resolve {host}: {exc}", request=request) from None
        if not addresses:
            raise httpx.ConnectError(f"{host} has no address", request=request)
        private = None if self._allow_private_hosts else first_private(addresses)
        if private is not None:
            raise FeedError(
                FeedErrorCode.PRIVATE_ADDRESS,
                f"{host} resolves to {private}, a private or local address; feeds must be "
                f"public, or set {ALLOW_PRIVATE_HOSTS}",
            )
        return addresses

    def close(self) -> None:
        self._network.close()
