"""Feed fetches connect to the address that was checked: DNS rebinding, redirects, TLS names.

A real server on 127.0.0.1 stands for a public shop (reached through the tests' network at a
public address) and another for something internal. The resolver answers differently from one
lookup to the next, as a rebinding attacker's name server does.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
import trustme

from shoptrack.catalog.errors import FeedError, FeedErrorCode
from shoptrack.catalog.sources import FetchOptions, open_feed
from tests.catalog.feedfiles import product, rss
from tests.catalog.httpserver import FeedServer, Route, feed_server
from tests.catalog.network import PUBLIC, PUBLIC_TOO, Answers, TestNetwork

SHOP_FEED = rss(product("PUBLIC-1"))
SECRET = b"internal admin page"


@pytest.fixture
def internal() -> Iterator[FeedServer]:
    with feed_server() as running:
        running.routes["/feed.xml"] = Route(SECRET)
        running.routes["/secret"] = Route(SECRET)
        yield running


def fetch(url: str, answers: Answers, network: TestNetwork, allow_private: bool = False) -> bytes:
    options = FetchOptions(
        2.0, 1 << 20, None, allow_private, resolve=answers, network=lambda: network
    )
    with open_feed(url, options) as opened:
        return opened.stream.read()


def refused(url: str, answers: Answers, network: TestNetwork) -> FeedError:
    with pytest.raises(FeedError) as raised:
        fetch(url, answers, network)
    return raised.value


def test_a_rebinding_name_is_fetched_from_the_address_that_was_checked(
    server: FeedServer, internal: FeedServer
) -> None:
    server.routes["/feed.xml"] = Route(SHOP_FEED)
    network = TestNetwork({(PUBLIC, 80): server.port, ("127.0.0.1", 80): internal.port})
    # Public when checked, loopback for whoever asks next.
    answers = Answers({"shop.test": [[PUBLIC], ["127.0.0.1"]]})

    assert fetch("http://shop.test/feed.xml", answers, network) == SHOP_FEED
    assert answers.lookups == {"shop.test": 1}
    assert network.reached == [(PUBLIC, 80)]
    assert server.requests[0]["host"] == "shop.test"  # the name, not the address
    assert internal.requests == []

    # Private at the check: refused before anything is reached.
    answers = Answers({"shop.test": [["127.0.0.1"], [PUBLIC]]})
    error = refused("http://shop.test/feed.xml", answers, network)
    assert error.code is FeedErrorCode.PRIVATE_ADDRESS and "127.0.0.1" in error.message
    assert network.reached == [(PUBLIC, 80)] and internal.requests == []


def test_every_redirect_hop_is_resolved_checked_and_pinned(
    server: FeedServer, internal: FeedServer
) -> None:
    network = TestNetwork(
        {(PUBLIC, 80): server.port, (PUBLIC_TOO, 80): server.port, ("127.0.0.1", 80): internal.port}
    )
    answers = Answers(
        {
            "shop.test": [[PUBLIC]],
            "inside.test": [["10.1.2.3"]],
            # One private address among public ones is enough to refuse.
            "mixed.test": [[PUBLIC_TOO, "127.0.0.1"]],
            "cdn.test": [[PUBLIC_TOO], ["127.0.0.1"]],
        }
    )
    for target in ("http://inside.test/secret", "http://127.0.0.1/secret", "http://mixed.test/"):
        server.routes["/feed.xml"] = Route(location=target)
        error = refused("http://shop.test/feed.xml", answers, network)
        assert error.code is FeedErrorCode.PRIVATE_ADDRESS, error.message
    assert internal.requests == []
    assert {address for address, _ in network.reached} == {PUBLIC}

    server.routes["/feed.xml"] = Route(location="http://cdn.test/files/feed.xml")
    server.routes["/files/feed.xml"] = Route(SHOP_FEED)
    network.reached.clear()
    assert fetch("http://shop.test/feed.xml", answers, network) == SHOP_FEED
    assert network.reached == [(PUBLIC, 80), (PUBLIC_TOO, 80)]
    assert server.requests[-1]["host"] == "cdn.test"
    assert answers.lookups["cdn.test"] == 1 and internal.requests == []


def test_allowed_private_hosts_are_pinned_too(server: FeedServer, internal: FeedServer) -> None:
    server.routes["/feed.xml"] = Route(SHOP_FEED)
    network = TestNetwork({("127.0.0.1", 80): server.port, (PUBLIC, 80): internal.port})
    answers = Answers({"intranet.test": [["127.0.0.1"], [PUBLIC]]})
    assert fetch("http://intranet.test/feed.xml", answers, network, True) == SHOP_FEED
    assert network.reached == [("127.0.0.1", 80)] and internal.requests == []


def test_an_unresolvable_name_is_unreachable(server: FeedServer) -> None:
    error = refused("http://nowhere.test/feed.xml", Answers({}), TestNetwork({}))
    assert error.code is FeedErrorCode.UNREACHABLE and "nowhere.test" in error.message


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def tls_server(authority: trustme.CA, name: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(name).configure_cert(context)
    return context


def test_https_is_verified_against_the_name_at_the_pinned_address(authority: trustme.CA) -> None:
    client = ssl.create_default_context()
    authority.configure_trust(client)
    answers = Answers({"shop.test": [[PUBLIC], ["127.0.0.1"]]})
    with feed_server(tls_server(authority, "shop.test")) as shop:
        shop.routes["/feed.xml"] = Route(SHOP_FEED)
        network = TestNetwork({(PUBLIC, 443): shop.port}, verify=client)
        assert fetch("https://shop.test/feed.xml", answers, network) == SHOP_FEED
        assert network.reached == [(PUBLIC, 443)]
        assert shop.server_names == ["shop.test"]  # SNI: the name
        assert shop.requests[0]["host"] == "shop.test"

    # A certificate for another name at that address is refused.
    with feed_server(tls_server(authority, "other.test")) as other:
        other.routes["/feed.xml"] = Route(SHOP_FEED)
        network = TestNetwork({(PUBLIC, 443): other.port}, verify=client)
        error = refused("https://shop.test/feed.xml", Answers({"shop.test": [[PUBLIC]]}), network)
        assert error.code is FeedErrorCode.UNREACHABLE
        assert "certificate" in error.message.lower(), error.message
        assert other.requests == []
