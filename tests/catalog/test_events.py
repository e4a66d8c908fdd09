"""ProductUpdate and ProductPage events in the catalogue, against imports, with history.

The browser's own path (``/webevent``, the quorum) is tested end to end in
``test_browser_events.py``; here events are written to the log directly.
"""

from __future__ import annotations

import time

from shoptrack.catalog.event_values import CatalogEventProcessor
from shoptrack.catalog.quorum import QuorumRule
from shoptrack.processing.runner import ProcessorRunner
from tests.catalog.conftest import Catalog
from tests.catalog.events import log_event
from tests.catalog.feedfiles import product, rss


def test_update_values_win_until_an_import_changes_them_page_values_do_not(
    catalog: Catalog,
) -> None:
    engine, site = catalog.engine, catalog.site_id
    feed = catalog.file_feed(rss(product("A", price="10 USD"), product("B")))
    assert catalog.run(feed).status == "ok"

    # A ProductPage sent to the REST API (no key needed) is one visitor's report: alone it
    # changes nothing known; three visitors agreeing (the default quorum) do. One for a
    # product nobody knows fills it in.
    seen = [{"key": "A", "price": 9.0, "in_stock": False}]
    log_event(engine, site, "ProductPage", seen, visitor="r1")
    log_event(engine, site, "ProductPage", [{"key": "ghost", "price": 1.0, "in_stock": True}])
    catalog.runner.drain()
    assert catalog.product("A")["price"] == 10
    for visitor in ("r2", "r3"):
        log_event(engine, site, "ProductPage", seen, visitor=visitor)
    catalog.runner.drain()
    a = catalog.product("A")
    assert (a["price"], a["price_source"], a["in_stock"], a["stock_source"]) == (
        9,
        "page",
        False,
        "page",
    )
    assert [(h["source"], h["price"], h["in_stock"]) for h in a["history"]] == [
        ("page", 9, False),
        ("feed", 10, True),
    ]
    assert catalog.keys() == ["A", "B", "ghost"]
    ghost = catalog.product("ghost")
    assert (ghost["price"], ghost["price_source"], ghost["feed_id"]) == (1, "page", None)

    # The feed is the truth: the next import replaces what a page view said, even unchanged.
    outcome = catalog.run(feed, force=True)
    assert outcome.status == "ok"
    assert (outcome.report["kept_from_updates"], outcome.report["page_values_replaced"]) == (0, 1)
    assert outcome.report["kept_other_sources"] == 1  # ghost: no feed knows it
    a = catalog.product("A")
    assert (a["price"], a["price_source"], a["in_stock"], a["stock_source"]) == (
        10,
        "feed",
        True,
        "feed",
    )
    assert [(h["source"], h["price"], h["old_price"], h["in_stock"]) for h in a["history"]] == [
        ("feed", 10, 9, True),
        ("page", 9, 10, False),
        ("feed", 10, None, True),
    ]

    log_event(
        engine,
        site,
        "ProductUpdate",
        [
            {
                "key": "A",
                "price": 8.0,
                "currency": "EUR",
                "in_stock": False,
                "attributes": {"color": ["red"]},
                "extra": {
                    "name": "New name",
                    "url": "https://shop.example/new-a",
                    "imgurl": "https://shop.example/new-a.jpg",
                    "brand": "Brand2",
                    "category": "Shoes > Sale",
                    "category_id": ["77"],
                },
            },
            {"key": "Z", "price": 5.0, "in_stock": True, "extra": {"name": "Only in events"}},
        ],
    )
    catalog.runner.drain()
    a = catalog.product("A")
    assert (a["title"], a["link"], a["brand"]) == (
        "New name",
        "https://shop.example/new-a",
        "Brand2",
    )
    assert (a["price"], a["currency"], a["price_source"]) == (8, "EUR", "update")
    assert a["attributes"]["tags_color"] == ["red"]
    assert a["categories"] == ["Shoes > Sale", "77"]
    assert catalog.keys(category="sale") == ["A"]
    assert catalog.keys(category="77") == ["A"]
    z = catalog.product("Z")
    assert (z["title"], z["price"], z["feed_id"]) == ("Only in events", 5, None)

    # The feed changes A's price: the feed wins for the price; its stock did not change, so
    # the update's stock stays; details older than the download go back to the feed's.
    catalog.rewrite(feed, rss(product("A", price="11 USD"), product("B")))
    outcome = catalog.run(feed)
    assert outcome.status == "ok"
    assert outcome.report["kept_other_sources"] == 2  # Z and ghost
    assert (outcome.report["kept_from_updates"], outcome.report["page_values_replaced"]) == (1, 0)
    a = catalog.product("A")
    assert (a["price"], a["price_source"], a["currency"]) == (11, "feed", "USD")
    assert (a["in_stock"], a["stock_source"]) == (False, "update")
    assert (a["title"], a["categories"]) == ("Product A", ["Shoes > Sneakers"])
    assert catalog.keys(category="77") == []
    assert catalog.product("Z")["price"] == 5
    assert [(h["source"], h["price"]) for h in a["history"]] == [
        ("feed", 11),
        ("update", 8),
        ("feed", 10),
        ("page", 9),
        ("feed", 10),
    ]

    # An event older than the last import does not roll it back.
    an_hour_ago = int(time.time() * 1000) - 3_600_000
    log_event(engine, site, "ProductPage", [{"key": "A", "price": 1.0}], at=an_hour_ago)
    catalog.runner.drain()
    assert catalog.product("A")["price"] == 11


def test_product_update_before_any_import_creates_the_catalogue(catalog: Catalog) -> None:
    log_event(
        catalog.engine,
        catalog.site_id,
        "ProductUpdate",
        [{"key": "E1", "price": 3.0, "in_stock": True, "extra": {"category": "Toys"}}],
    )
    catalog.runner.drain()
    assert catalog.keys(category="toys") == ["E1"]
    feed = catalog.file_feed(rss(product("F1")))
    outcome = catalog.run(feed)
    assert outcome.report["kept_other_sources"] == 1
    assert catalog.keys() == ["E1", "F1"]
    assert catalog.keys(category="toys") == ["E1"]


def test_unknown_category_keys_of_category_pages_are_reported(catalog: Catalog) -> None:
    for key in ("Sneakers", "Sneakers", "Nope", "shoes > sneakers", "404-cat", "Nope"):
        log_event(catalog.engine, catalog.site_id, "CategoryPage", category_key=key)
    outcome = catalog.run(catalog.file_feed(rss(product("A"))))
    assert outcome.report["unknown_categories"] == {
        "count": 2,
        "examples": [{"key": "Nope", "events": 2}, {"key": "404-cat", "events": 1}],
    }


def test_odd_events_never_block_the_catalogue(catalog: Catalog) -> None:
    log_event(
        catalog.engine,
        catalog.site_id,
        "ProductUpdate",
        [
            {"key": "x" * 300, "price": 1.0, "in_stock": True},
            {
                "key": "ok",
                "price": 2.0,
                "in_stock": True,
                "currency": "NOT-A-CURRENCY",
                "extra": {"name": ["not", "text"], "category": {"odd": 1}},
                "attributes": {"size": "XL"},
            },
        ],
    )
    catalog.runner.drain()
    ok = catalog.product("ok")
    assert (ok["price"], ok["currency"], ok["title"], ok["categories"]) == (2, None, None, [])
    assert ok["attributes"] == {"tags_size": ["XL"]}
    assert catalog.keys() == ["ok"]


def test_browser_reports_agree_only_within_the_window(catalog: Catalog) -> None:
    engine, site = catalog.engine, catalog.site_id
    runner = ProcessorRunner(engine, [CatalogEventProcessor(QuorumRule(2, 3_600_000))])
    now = int(time.time() * 1000)
    hour = 3_600_000
    update = {"key": "W", "price": 10.0, "in_stock": True}
    log_event(engine, site, "ProductUpdate", [update], at=now - 3 * hour)

    def seen(visitor: str | None, at: int, bot: bool = False) -> None:
        view = [{"key": "W", "price": 5.0}]
        log_event(
            engine, site, "ProductPage", view, source="browser", visitor=visitor, at=at, bot=bot
        )

    seen("v1", now - 2 * hour)
    seen("v2", now - 10 * 60_000)  # agrees with v1, but more than an hour later
    for _ in range(3):
        seen(None, now - 5 * 60_000)  # no visitor id: counts for nobody
    seen("crawler", now - 4 * 60_000, bot=True)
    runner.drain()
    assert (catalog.product("W")["price"], catalog.product("W")["price_source"]) == (10, "update")

    seen("v3", now)  # v2 and v3 within the hour: the rule's two visitors
    runner.drain()
    w = catalog.product("W")
    assert (w["price"], w["price_source"]) == (5, "browser")
    assert [(h["source"], h["price"]) for h in w["history"]] == [("browser", 5), ("update", 10)]
