"""The reads the dashboard's catalogue pages make: recent imports, a product's history in ms."""

from __future__ import annotations

from tests.catalog.conftest import Catalog
from tests.catalog.feedfiles import product, rss


def test_recent_imports_are_the_sites_newest_with_their_duration(catalog: Catalog) -> None:
    first = catalog.file_feed(rss(product("a"), product("b")), "one.xml")
    second = catalog.file_feed(rss(product("c")), "two.xml")
    catalog.run(first)
    catalog.run(second)
    catalog.rewrite(first, rss(product("a"), {"title": "no id"}))
    catalog.run(first, force=True)

    recent = catalog.queries.recent_imports(catalog.site_id, 10)
    assert [r["feed_id"] for r in recent] == [first.feed_id, second.feed_id, first.feed_id]
    newest = recent[0]
    assert newest["status"] == "ok"
    assert newest["report"]["errors"]["count"] >= 1
    assert all(r["duration_ms"] is not None and r["duration_ms"] >= 0 for r in recent)
    assert newest["finished_at_ms"] - newest["started_at_ms"] == newest["duration_ms"]

    only_second = catalog.queries.recent_imports(catalog.site_id, 10, feed_id=second.feed_id)
    assert [r["id"] for r in only_second] == [recent[1]["id"]]
    assert catalog.queries.recent_imports(catalog.site_id, 1) == recent[:1]
    assert catalog.queries.recent_imports("another-site", 10) == []
    assert catalog.queries.import_record(catalog.site_id, newest["id"]) == newest
    assert catalog.queries.import_record("another-site", newest["id"]) is None


def test_price_history_is_oldest_first_in_ms(catalog: Catalog) -> None:
    feed = catalog.file_feed(rss(product("a", price="10.00 USD")))
    catalog.run(feed)
    catalog.rewrite(feed, rss(product("a", price="8.00 USD", availability="out of stock")))
    catalog.run(feed, force=True)

    history = catalog.queries.price_history(catalog.site_id, "a")
    assert [(h["price"], h["old_price"], h["in_stock"]) for h in history] == [
        (10.0, None, True),
        (8.0, 10.0, False),
    ]
    assert history[0]["at_ms"] <= history[1]["at_ms"]
    assert catalog.queries.price_history(catalog.site_id, "a", limit=1) == history[1:]
    assert catalog.queries.price_history(catalog.site_id, "nope") == []
