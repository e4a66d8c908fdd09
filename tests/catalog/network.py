"""The tests' own network and name service, handed to the fetcher through its options.

``TestNetwork`` is httpx's real transport with a routing table in front: a (public) address
the tests made up leads to a server on 127.0.0.1, so a fetch from a "public" host can be
completed on a machine without internet; every address it was asked to reach is recorded.
``Answers`` is a resolver whose answers change from one lookup to the next (DNS rebinding).
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx

PUBLIC = "93.184.216.34"  # a global address: passes the private-address check
PUBLIC_TOO = "2606:2800:220:1::1"


class TestNetwork(httpx.HTTPTransport):
    __test__ = False  # not a test class for pytest

    def __init__(self, routes: dict[tuple[str, int], int], verify: object = True) -> None:
        super().__init__(verify=verify)  # type: ignore[arg-type]
        self.routes = routes  # (address, port) → port of a server on 127.0.0.1
        self.reached: list[tuple[str, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        target = (url.host, url.port or (443 if url.scheme == "https" else 80))
        self.reached.append(target)
        port = self.routes.get(target)
        if port is None:
            raise httpx.ConnectError(f"no route to {target[0]}", request=request)
        routed = httpx.Request(
            request.method,
            url.copy_with(host="127.0.0.1", port=port),
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return super().handle_request(routed)


class Answers:
    """Answers a name's lookups in turn (the last answer repeats); counts lookups per name."""

    def __init__(self, names: dict[str, Iterable[list[str]]]) -> None:
        self.answers = {name: list(seq) for name, seq in names.items()}
        self.lookups: dict[str, int] = {}

    def __call__(self, host: str, port: int) -> list[str]:
        count = self.lookups.get(host, 0)
        self.lookups[host] = count + 1
        answers = self.answers.get(host)
        if not answers:
            raise OSError(f"unknown host {host}")
        return answers[min(count, len(answers) - 1)]
