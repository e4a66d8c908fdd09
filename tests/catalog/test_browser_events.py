"""Browser events against the catalogue, end to end: anonymous ``/webevent`` posts, the real
processors, the catalogue API and ``/recs`` answers.

Anyone can post to ``/webevent``: one visitor's ProductPage must not change what every visitor
sees. Only feeds and ``ProductUpdate`` are the truth; browser values fill in unknown products,
and change a known product only when enough distinct, non-bot visitors agree.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from shoptrack.catalog.feeds import FeedRepository
from shoptrack.catalog.importer import FeedImporter
from tests.recommend.shop import Shop, item
from tests.support.payloads import browser_event, webevent_body

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def page_view(shop: Shop, visitor: str, key: str, *, agent: str = BROWSER, **fields: Any) -> None:
    """One ProductPage from ``visitor``'s browser, as the tracker posts it (no API key)."""
    event = browser_event("ProductPage", {"ProductPage": {"productKey": key, **fields}})
    body = webevent_body(shop.site_id, event, visitor_id=visitor, session_id=f"s-{visitor}")
    response = shop.client.post(
        "/webevent",
        content=orjson.dumps(body),
        headers={"Content-Type": "text/plain", "User-Agent": agent},
    )
    assert response.status_code == 200, response.text


def process(shop: Shop) -> None:
    shop.services.runner.drain()


def product(shop: Shop, key: str) -> dict[str, Any]:
    response = shop.client.get(f"/api/v1/products/{key}", headers=shop.auth)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def state(shop: Shop, key: str) -> tuple[float, bool, str, str]:
    found = product(shop, key)
    return found["price"], found["in_stock"], found["price_source"], found["stock_source"]


def shown(shop: Shop, variant: str) -> dict[str, tuple[float, bool]]:
    """What a block shows every visitor: product → (price, in stock)."""
    response = shop.get(variant, count=10)
    assert response.status_code == 200, response.text
    return {p["product_id"]: (p["price"], p["in_stock"]) for p in response.json()["products"]}


def feed_shop(shop: Shop) -> str:
    shop.catalog(item("a"), item("b"), item("c"))
    return shop.variant_of(shop.block("popular"))


FEED_VALUES = (10.0, True, "feed", "feed")


def test_one_anonymous_page_view_changes_neither_the_catalogue_nor_recs(shop: Shop) -> None:
    variant = feed_shop(shop)
    before = shown(shop, variant)
    assert before == {"a": (10.0, True), "b": (10.0, True), "c": (10.0, True)}

    page_view(shop, "anonymous", "a", price="0.01")
    page_view(shop, "anonymous", "b", isInStock=0)
    process(shop)

    assert state(shop, "a") == FEED_VALUES
    assert state(shop, "b") == FEED_VALUES
    assert [h["source"] for h in product(shop, "a")["history"]] == ["feed"]
    assert shown(shop, variant) == before


def test_distinct_visitors_agreeing_change_price_and_stock(shop: Shop) -> None:
    variant = feed_shop(shop)
    for visitor in ("v1", "v2"):
        page_view(shop, visitor, "a", price="8.50")
        page_view(shop, visitor, "b", isInStock=0)
    process(shop)
    assert state(shop, "a") == FEED_VALUES  # two of the three needed
    assert state(shop, "b") == FEED_VALUES

    page_view(shop, "v3", "a", price="8.50")
    page_view(shop, "v3", "b", isInStock=0)
    process(shop)
    assert state(shop, "a") == (8.5, True, "browser", "feed")
    assert state(shop, "b") == (10.0, False, "feed", "browser")
    assert [(h["source"], h["price"]) for h in product(shop, "a")["history"]] == [
        ("browser", 8.5),
        ("feed", 10.0),
    ]
    assert [(h["source"], h["in_stock"]) for h in product(shop, "b")["history"]] == [
        ("browser", False),
        ("feed", True),
    ]
    assert shown(shop, variant) == {"a": (8.5, True), "c": (10.0, True)}


def test_bots_and_repeats_and_disagreements_do_not_count(shop: Shop) -> None:
    feed_shop(shop)
    for crawler in ("bot-1", "bot-2", "bot-3"):
        page_view(shop, crawler, "a", price="1", agent=GOOGLEBOT)
    page_view(shop, "human-1", "a", price="1")
    for _ in range(4):  # the same visitor again and again is still one visitor
        page_view(shop, "human-2", "a", price="1")
    page_view(shop, "human-3", "a", price="2")  # agrees with nobody
    process(shop)
    assert state(shop, "a") == FEED_VALUES

    page_view(shop, "human-3", "a", price="1")  # changed their view: now the third
    process(shop)
    assert state(shop, "a") == (1.0, True, "browser", "feed")


def test_a_forced_import_overwrites_an_agreed_browser_value(shop: Shop) -> None:
    path = shop.tmp_path / "feed.csv"
    path.write_text(
        "id,title,price,availability\na,Product A,10.00 USD,in stock\nb,Product B,10 USD,in stock\n"
    )
    feed = FeedRepository(shop.engine).add(shop.site_id, str(path), None, allow_files=True)
    importer = FeedImporter(shop.engine, shop.settings)
    assert importer.run(feed).status == "ok"
    for visitor in ("v1", "v2", "v3"):
        page_view(shop, visitor, "a", price="7", isInStock=0)
    process(shop)
    assert state(shop, "a") == (7.0, False, "browser", "browser")

    time.sleep(0.002)  # the import's download time is after every report above
    outcome = importer.run(FeedRepository(shop.engine).get(shop.site_id, feed.feed_id), force=True)  # type: ignore[arg-type]
    assert outcome.status == "ok"
    assert outcome.report["page_values_replaced"] == 1
    assert outcome.report["kept_from_updates"] == 0
    assert state(shop, "a") == FEED_VALUES
    assert [h["source"] for h in product(shop, "a")["history"]][:2] == ["feed", "browser"]

    # Reports from before the import do not bring the value back: a new quorum is needed.
    page_view(shop, "v4", "a", price="7")
    process(shop)
    assert state(shop, "a") == FEED_VALUES


def test_a_browser_event_fills_in_a_product_no_feed_knows(shop: Shop) -> None:
    variant = feed_shop(shop)
    page_view(
        shop,
        "v1",
        "fresh",
        price="12.50 EUR",
        isInStock=1,
        name="Fresh product",
        url="https://shop.example/p/fresh",
    )
    process(shop)
    fresh = product(shop, "fresh")
    assert (fresh["price"], fresh["currency"], fresh["in_stock"]) == (12.5, "EUR", True)
    assert (fresh["title"], fresh["link"]) == ("Fresh product", "https://shop.example/p/fresh")
    assert (fresh["price_source"], fresh["stock_source"], fresh["feed_id"]) == (
        "browser",
        "browser",
        None,
    )
    assert [h["source"] for h in fresh["history"]] == ["browser"]
    assert "fresh" in shown(shop, variant)

    # Once known, it is a known product like any other: one visitor does not change it.
    page_view(shop, "v2", "fresh", price="0.01")
    process(shop)
    assert product(shop, "fresh")["price"] == 12.5


def test_a_bot_fills_in_nothing(shop: Shop) -> None:
    feed_shop(shop)
    page_view(shop, "crawler", "ghost", price="3", agent=GOOGLEBOT)
    process(shop)
    assert shop.client.get("/api/v1/products/ghost", headers=shop.auth).status_code == 404


def test_product_update_with_the_key_still_applies_at_once(shop: Shop) -> None:
    variant = feed_shop(shop)
    update = {
        "GeneralInfo": {
            "eventName": "ProductUpdate",
            "siteId": shop.site_id,
            "datetime": int(time.time() * 1000),
            "cookies": {"sc": "server"},
        },
        "ProductUpdate": [{"product_id": "a", "unit_price": "4.00 USD", "isInStock": 0}],
    }
    response = shop.client.post("/api/v2", content=orjson.dumps(update), headers=shop.auth)
    assert response.status_code == 200, response.text
    process(shop)
    assert state(shop, "a") == (4.0, False, "update", "update")
    assert "a" not in shown(shop, variant)
    # Without the key the same body is refused, whatever it says.
    assert shop.client.post("/api/v2", content=orjson.dumps(update)).status_code == 401


def test_a_page_view_sent_to_the_rest_api_counts_as_one_report_too(shop: Shop) -> None:
    # /api/v2 takes a ProductPage without a key: it is one visitor's page view, not the truth.
    variant = feed_shop(shop)
    page = {
        "GeneralInfo": {
            "eventName": "ProductPage",
            "siteId": shop.site_id,
            "datetime": int(time.time() * 1000),
            "cookies": {"sc": "forger"},
        },
        "ProductPage": {"productKey": "a", "price": "0.01", "isInStock": 0},
    }
    for headers in ({}, shop.auth):
        response = shop.client.post("/api/v2", content=orjson.dumps(page), headers=headers)
        assert response.status_code == 200, response.text
    process(shop)
    assert state(shop, "a")[:2] == (10.0, True)
    assert "a" in shown(shop, variant)


def test_a_product_update_never_stores_a_script_link(shop: Shop) -> None:
    variant = feed_shop(shop)
    update = {
        "GeneralInfo": {"eventName": "ProductUpdate", "siteId": shop.site_id,
                        "datetime": int(time.time() * 1000), "cookies": {"sc": "server"}},
        "ProductUpdate": [{"product_id": "a", "url": "javascript:alert(1)",
                           "imgurl": "data:text/html,<b>x</b>", "name": "Renamed",
                           "isInStock": 1}],
    }  # fmt: skip
    response = shop.client.post("/api/v2", content=orjson.dumps(update), headers=shop.auth)
    assert response.status_code == 200, response.text
    process(shop)
    found = product(shop, "a")
    assert found["title"] == "Renamed"  # the update applied; its two script addresses did not
    assert found["link"].startswith("https://") and found["image_link"].startswith("https://")
    served = shop.get(variant, count=10).json()["products"]
    assert all(p["url"].startswith("https://") for p in served)
