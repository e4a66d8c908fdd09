"""ProductUpdate and ProductPage events in the catalogue, against imports, with history."""

from __future__ import annotations

import time

from tests.catalog.conftest import Catalog
from tests.catalog.events import log_event
from tests.catalog.feedfiles import product, rss


def test_event_values_win_until_an_import_changes_them(catalog: Catalog) -> None:
    engine, site = catalog.engine, catalog.site_id
    feed = catalog.file_feed(rss(product("A", price="10 USD"), product("B")))
    assert catalog.run(feed).status == "ok"

    log_event(engine, site, "ProductPage", [{"key": "A", "price": 9.0, "in_stock": False}])
    log_event(engine, site, "ProductPage", [{"key": "ghost", "price": 1.0, "in_stock": True}])
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
    assert catalog.keys() == ["A", "B"]  # a page view never creates a product

    # The feed did not change A: the page's values stay.
    outcome = catalog.run(feed)
    assert outcome.status == "ok" and outcome.report["kept_from_events"] == 1
    a = catalog.product("A")
    assert (a["price"], a["in_stock"]) == (9, False)

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
    # the event's stock stays; details older than the download go back to the feed's.
    catalog.rewrite(feed, rss(product("A", price="11 USD"), product("B")))
    outcome = catalog.run(feed)
    assert outcome.status == "ok"
    assert outcome.report["kept_other_sources"] == 1  # Z
    a = catalog.product("A")
    assert (a["price"], a["price_source"], a["currency"]) == (11, "feed", "USD")
    assert (a["in_stock"], a["stock_source"]) == (False, "page")
    assert (a["title"], a["categories"]) == ("Product A", ["Shoes > Sneakers"])
    assert catalog.keys(category="77") == []
    assert catalog.product("Z")["price"] == 5
    assert [(h["source"], h["price"]) for h in a["history"]] == [
        ("feed", 11),
        ("update", 8),
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
