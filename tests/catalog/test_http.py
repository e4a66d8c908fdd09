"""Feeds over HTTP from a real local server: gzip, conditional requests, errors, timeouts."""

from __future__ import annotations

import socket
import time

from shoptrack.catalog.feeds import Feed
from shoptrack.catalog.importer import FeedImporter
from shoptrack.config import Settings
from tests.catalog.conftest import Catalog
from tests.catalog.feedfiles import product, rss
from tests.catalog.httpserver import FeedServer, Route

FEED = rss(product("H1"), product("H2", price="5 USD"), product("H3"), product("H4"))


def url_feed(catalog: Catalog, url: str) -> Feed:
    return catalog.feeds.add(catalog.site_id, url, None, allow_files=False)


def test_gzip_and_etag_304_means_nothing_to_do(catalog: Catalog, server: FeedServer) -> None:
    server.routes["/feed.xml"] = Route(FEED, gzip=True, etag='"v1"')
    feed = url_feed(catalog, server.url("/feed.xml"))
    first = catalog.run(feed)
    assert first.status == "ok", first.error
    assert first.report["products"] == 4
    assert "gzip" in server.requests[0]["accept-encoding"]
    assert "if-none-match" not in server.requests[0]

    second = catalog.run(feed)
    assert second.status == "not_modified"
    assert server.requests[1]["if-none-match"] == '"v1"'
    assert catalog.keys() == ["H1", "H2", "H3", "H4"]
    stored = catalog.feeds.get(feed.site_id, feed.feed_id)
    assert stored is not None and stored.last_status == "not_modified"

    forced = catalog.run(feed, force=True)
    assert forced.status == "ok"
    assert "if-none-match" not in server.requests[2]


def test_last_modified_is_sent_back(catalog: Catalog, server: FeedServer) -> None:
    stamp = "Wed, 21 Oct 2026 07:28:00 GMT"
    server.routes["/feed.xml"] = Route(FEED, last_modified=stamp)
    feed = url_feed(catalog, server.url("/feed.xml"))
    assert catalog.run(feed).status == "ok"
    assert catalog.run(feed).status == "not_modified"
    assert server.requests[1]["if-modified-since"] == stamp


def test_a_failed_import_does_not_keep_its_etag(catalog: Catalog, server: FeedServer) -> None:
    server.routes["/feed.xml"] = Route(FEED, etag='"v1"')
    feed = url_feed(catalog, server.url("/feed.xml"))
    assert catalog.run(feed).status == "ok"
    server.routes["/feed.xml"] = Route(b"<rss><channel><item>", etag='"v2"')
    broken = catalog.run(feed)
    assert broken.status == "failed" and broken.error is not None
    assert broken.error["code"] == "invalid_xml"
    server.routes["/feed.xml"] = Route(rss(product("H9")), etag='"v2"')
    fixed = catalog.run(feed)
    assert fixed.status == "ok"  # not 304: the stored ETag is still the good "v1"
    assert server.requests[-1]["if-none-match"] == '"v1"'
    assert catalog.keys() == ["H9"]


def test_http_errors_keep_the_catalogue(catalog: Catalog, server: FeedServer) -> None:
    server.routes["/feed.xml"] = Route(FEED)
    feed = url_feed(catalog, server.url("/feed.xml"))
    assert catalog.run(feed).status == "ok"
    for route, code, words in (
        (None, "http_error", "HTTP 404"),
        (Route(b"oops", status=500), "http_error", "HTTP 500"),
        (Route(b"x" * (2 * 1024 * 1024)), "too_large", "limit"),
    ):
        if route is None:
            del server.routes["/feed.xml"]
        else:
            server.routes["/feed.xml"] = route
        outcome = catalog.run(feed)
        assert outcome.status == "failed" and outcome.error is not None
        assert outcome.error["code"] == code and words in outcome.error["message"]
        assert catalog.keys() == ["H1", "H2", "H3", "H4"]


def test_a_server_that_stalls_times_out(catalog: Catalog, server: FeedServer) -> None:
    server.routes["/slow.xml"] = Route(FEED, delay_s=3.0)
    feed = url_feed(catalog, server.url("/slow.xml"))
    started = time.monotonic()
    outcome = catalog.run(feed)
    assert time.monotonic() - started < 2.5
    assert outcome.status == "failed" and outcome.error is not None
    assert outcome.error["code"] == "timeout"


def test_an_unreachable_host_is_recorded(catalog: Catalog) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nobody listens
    outcome = catalog.run(url_feed(catalog, f"http://127.0.0.1:{port}/feed.xml"))
    assert outcome.status == "failed" and outcome.error is not None
    assert outcome.error["code"] == "unreachable"
    assert catalog.feeds.imports(catalog.site_id, outcome.feed_id)[0]["error"]["code"] == (
        "unreachable"
    )


def test_by_default_a_feed_may_not_reach_private_addresses(
    catalog: Catalog, catalog_settings: Settings, server: FeedServer
) -> None:
    # Without the opt-in, a key holder cannot make us fetch from loopback (or follow a
    # redirect there), and nothing of the target is imported.
    server.routes["/feed.xml"] = Route(FEED)
    strict = catalog_settings.model_copy(update={"feed_allow_private_hosts": False})
    importer = FeedImporter(catalog.engine, strict)
    for url in (server.url("/feed.xml"), "http://localhost:9/feed.xml"):
        feed = url_feed(catalog, url)
        outcome = importer.run(feed)
        assert outcome.status == "failed" and outcome.error is not None
        assert outcome.error["code"] == "private_address"
        # The message says which setting, with which value, for which process.
        message = str(outcome.error["message"])
        assert "SHOPTRACK_FEED_ALLOW_PRIVATE_HOSTS=true" in message
        assert "shoptrack serve" in message and "shoptrack feeds import" in message
    assert server.requests == []
    assert catalog.keys() == []
