"""Recommendations in the browser: getRecommendations, rendered blocks, impressions, reports.

A real ``shoptrack serve`` (recommendations reloaded on every request, processors polling
fast) and Debian's Chromium; the shop's pages come from another origin. Products enter the
catalogue as ``ProductUpdate`` events; blocks are made with ``/api/v1/blocks``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from tests.support.server import ServerProcess
from tests.tracker.conftest import create_site
from tests.tracker.helpers import ShopServer, StoredEvents, shop_page, wait_until

HOSTILE = "<img src=x onerror=\"window.__pwned='name'\">"
QUOTE_BREAK = '" onmouseover="window.__pwned=\'attr\'" x="'
SPACER = "<div style='height: 3000px'>scroll down</div>"
# Headless Chromium names itself in its user agent ("HeadlessChrome"), and the server rightly
# takes it for a bot, left out of reports: a test of a visitor's report browses as one.
DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("recs")
    process = ServerProcess(
        f"sqlite:///{workdir / 'shoptrack.db'}",
        workdir,
        env={
            "SHOPTRACK_RECS_REFRESH_INTERVAL_S": "0",
            "SHOPTRACK_PROCESSOR_POLL_INTERVAL_S": "0.1",
        },
    )
    process.start()
    yield process
    process.stop()


class RecsSite:
    """A site of the test server with a catalogue and blocks."""

    def __init__(self, server: ServerProcess, shop: ShopServer) -> None:
        self.server = server
        self.shop = shop
        self.site_id, key = create_site(server, "Recommendations shop")
        self.headers = {"Authorization": f"Bearer {key}"}
        self.stored = StoredEvents(server.url, key)

    def products(self, names: list[str], image: str = "javascript:window.__pwned='img'") -> None:
        update = [
            {
                "product_id": f"p{i}",
                "name": name,
                "url": f"{self.shop.url}/p/{i}",
                "imgurl": image,
                "unit_price": str(10 + i),
                "price_currency_code": "EUR",
                "isInStock": 1,
            }
            for i, name in enumerate(names)
        ]
        body = {
            "GeneralInfo": {"eventName": "ProductUpdate", "datetime": int(time.time() * 1000)},
            "ProductUpdate": update,
        }
        response = httpx.post(
            f"{self.server.url}/api/v2", content=orjson.dumps(body), headers=self.headers
        )
        response.raise_for_status()

    def block(self, **fields: Any) -> dict[str, Any]:
        body = {"name": "block", "status": "live", "variants": [{"algorithm": "popular"}]}
        body.update(fields)
        response = httpx.post(f"{self.server.url}/api/v1/blocks", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        block: dict[str, Any] = response.json()
        return block

    def recommend(self, variant: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.server.url}/recs/{self.site_id}", params={"variant": variant})
        if response.status_code != 200:
            return []
        products: list[dict[str, Any]] = response.json()["products"]
        return products

    def ready(self, variant: str, count: int) -> list[dict[str, Any]]:
        """Wait until the catalogue processor has the products (the worker runs in the server)."""
        return wait_until(
            lambda: len(self.recommend(variant)) >= count and self.recommend(variant),
            timeout=15,
            what="products in the catalogue",
        )

    def report(self) -> dict[str, dict[str, Any]]:
        today = datetime.now(tz=UTC).date().isoformat()
        response = httpx.get(
            f"{self.server.url}/api/v1/reports/blocks",
            params={"from": today, "to": today},
            headers=self.headers,
        )
        response.raise_for_status()
        return {t["variant"]: t for t in response.json()["totals"]}


@pytest.fixture
def recs(server: ServerProcess, shop: ShopServer) -> RecsSite:
    return RecsSite(server, shop)


def script_requests(page: Any) -> list[str]:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def test_get_recommendations_products_and_unknown_variant(recs: RecsSite, page: Any) -> None:
    recs.products(["Kettle", "Toaster", "Mixer"])
    block = recs.block(page_type="product", count=3)
    variant = block["variants"][0]["variant_id"]
    recs.ready(variant, 3)
    requested = script_requests(page)
    calls = f"""
    window.results = {{}};
    eS('getRecommendations', {{variantId: {json.dumps(variant)}, productId: 'p1', limit: 2}},
       function (error, products) {{ window.results.ok = {{error: error, products: products}}; }});
    eS('getRecommendations', {{variantId: 'r999v999'}},
       function (error, products) {{ window.results.bad = {{error: error, products: products}}; }});
    """
    url = recs.shop.add(
        "/get.html", shop_page(recs.server.url, recs.site_id, calls, init={"RECOMS": False})
    )
    page.goto(url)
    page.wait_for_function("window.results && window.results.ok && window.results.bad")
    results = page.evaluate("window.results")
    ok = results["ok"]
    assert ok["error"] is None
    assert 1 <= len(ok["products"]) <= 2
    container = block["variants"][0]["container_type"]
    for product in ok["products"]:
        assert product["container_type"] == container
        assert product["url"].endswith(f"?sc_content={container}")
        assert {"product_id", "name", "price", "currency", "image"} <= set(product)
    assert results["bad"] == {
        "error": "variantId r999v999 was not found in config",
        "products": [],
    }
    # The recommendations script came when the first call needed it, once.
    assert [u for u in requested if u.endswith(".recs.js")] == [
        f"{recs.server.url}/scripts/{recs.site_id}.recs.js"
    ]


def test_no_recommendations_script_when_nothing_needs_it(recs: RecsSite, page: Any) -> None:
    requested = script_requests(page)
    calls = "eS('sendEvent', 'MainPage');"
    url = recs.shop.add(
        "/quiet.html", shop_page(recs.server.url, recs.site_id, calls, init={"RECOMS": False})
    )
    page.goto(url)
    recs.stored.wait(lambda events: any(e["type"] == "MainPage" for e in events))
    page.wait_for_timeout(300)
    assert not [u for u in requested if ".recs.js" in u]
    assert [u for u in requested if u.endswith(f"/scripts/{recs.site_id}.js")]


def test_rendered_block_escapes_every_product_field(recs: RecsSite, page: Any) -> None:
    recs.products([HOSTILE, QUOTE_BREAK, "Plain & simple"])
    template = (
        "<h2 class='t'>{{title}}</h2>{{#products}}<a class='item' href='{{url}}' "
        'title="{{name}}" data-id={{product_id}}><img src="{{image}}">'
        "<span class='name'>{{name}}</span></a>"
        # Placeholders deeper inside URL attributes, and srcdoc, are held to URLs too.
        "<a class='alt' href=\" {{name}}\">x</a><iframe class='doc' srcdoc=\"{{name}}\"></iframe>"
        "{{/products}}"
    )
    block = recs.block(
        page_type="main",
        count=3,
        selector="#recs",
        template=template,
        title="<script>window.__pwned='title'</script>Picked for you",
    )
    recs.ready(block["variants"][0]["variant_id"], 3)
    pwned: list[str] = []
    page.on("dialog", lambda dialog: (pwned.append(dialog.message), dialog.dismiss()))
    url = recs.shop.add(
        "/main.html",
        shop_page(
            recs.server.url,
            recs.site_id,
            "eS('sendEvent', 'MainPage');",
            body="<div id='recs'></div>",
        ),
    )
    page.goto(url)
    page.wait_for_selector("#recs .sc-recs a.item")
    page.wait_for_timeout(300)  # give an injected handler every chance to run
    names = page.eval_on_selector_all("#recs .name", "els => els.map(e => e.textContent)")
    assert sorted(names) == sorted([HOSTILE, QUOTE_BREAK, "Plain & simple"])  # literally
    titles = page.eval_on_selector_all("#recs a.item", "els => els.map(e => e.title)")
    assert sorted(titles) == sorted(names)  # attribute values stayed values
    assert page.text_content("#recs h2") == "<script>window.__pwned='title'</script>Picked for you"
    # Nothing the feed sent became an element or a handler; the javascript: image was dropped.
    assert page.evaluate("window.__pwned") is None and pwned == []
    assert (
        page.eval_on_selector_all(
            "#recs script, #recs [onerror], #recs [onmouseover]", "e => e.length"
        )
        == 0
    )
    alt_hrefs = page.eval_on_selector_all(
        "#recs a.alt", "els => els.map(e => e.getAttribute('href').trim())"
    )
    assert alt_hrefs == ["", "", ""]
    docs = page.eval_on_selector_all(
        "#recs iframe.doc", "els => els.map(e => e.getAttribute('srcdoc'))"
    )
    assert docs == ["", "", ""]
    images = page.eval_on_selector_all("#recs img", "els => els.map(e => e.getAttribute('src'))")
    assert images == ["", "", ""]
    page.hover("#recs a.item >> nth=1")
    hrefs = page.eval_on_selector_all("#recs a.item", "els => els.map(e => e.href)")
    container = block["variants"][0]["container_type"]
    assert all(h.startswith(recs.shop.url) and h.endswith(f"sc_content={container}") for h in hrefs)
    assert page.evaluate("window.__pwned") is None


def test_impressions_when_visible_all_blocks_in_one_event_once(recs: RecsSite, page: Any) -> None:
    recs.products(["Kettle", "Toaster", "Mixer", "Grill"])
    first = recs.block(page_type="main", count=2, selector="#one")
    second = recs.block(page_type="any", count=2, selector="#two", position="afterbegin")
    recs.ready(first["variants"][0]["variant_id"], 2)
    body = SPACER + "<div id='one'></div><div id='two'></div>" + SPACER
    url = recs.shop.add(
        "/scroll.html",
        shop_page(recs.server.url, recs.site_id, "eS('sendEvent', 'MainPage');", body=body),
    )
    page.goto(url)
    page.wait_for_selector("#one .sc-recs li", state="attached")
    page.wait_for_selector("#two .sc-recs li", state="attached")
    recs.stored.wait(lambda events: any(e["type"] == "MainPage" for e in events))
    page.wait_for_timeout(600)
    assert recs.stored.of_type("ProductImpression") == []  # rendered, but below the fold

    page.eval_on_selector("#one", "el => el.scrollIntoView()")
    events = recs.stored.wait(lambda events: any(e["type"] == "ProductImpression" for e in events))
    page.wait_for_timeout(400)
    impressions = recs.stored.of_type("ProductImpression")
    assert len(impressions) == 1  # both blocks came into view together: one event
    shown = impressions[0]["products"]
    containers = {p["block"] for p in shown}
    assert containers == {
        first["variants"][0]["container_type"],
        second["variants"][0]["container_type"],
    }
    assert len(shown) == 4 and all(p["key"] for p in shown)
    assert impressions[0]["name"] == "ProductImpressions"
    del events

    # Out of view and back: the same block view is not counted again.
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(300)
    page.eval_on_selector("#one", "el => el.scrollIntoView()")
    page.wait_for_timeout(600)
    assert len(recs.stored.of_type("ProductImpression")) == 1
    # A new page view is a new block view.
    page.reload()
    page.wait_for_selector("#one .sc-recs li", state="attached")
    page.eval_on_selector("#two", "el => el.scrollIntoView()")
    recs.stored.wait(lambda events: sum(e["type"] == "ProductImpression" for e in events) == 2)


def test_preview_blocks_only_with_their_token(recs: RecsSite, page: Any) -> None:
    recs.products(["Kettle", "Toaster"])
    block = recs.block(page_type="404", count=2, selector="#recs", status="preview")
    recs.ready(block["variants"][0]["variant_id"], 2)
    html = shop_page(
        recs.server.url, recs.site_id, "eS('sendEvent', 'NotFound');", body="<div id='recs'></div>"
    )
    url = recs.shop.add("/missing.html", html)
    page.goto(url)
    recs.stored.wait(lambda events: any(e["type"] == "NotFound" for e in events))
    page.wait_for_timeout(500)
    assert page.query_selector("#recs .sc-recs") is None
    page.goto(url + "?sc_preview=" + block["preview_token"])
    page.wait_for_selector("#recs .sc-recs li")


def test_click_then_purchase_is_attributed_to_block_and_variant(recs: RecsSite, page: Any) -> None:
    page.context.set_extra_http_headers({"User-Agent": DESKTOP_CHROME})
    recs.products(["Kettle", "Toaster", "Mixer"])
    block = recs.block(page_type="main", count=3, selector="#recs")
    variant = block["variants"][0]["variant_id"]
    container = block["variants"][0]["container_type"]
    recs.ready(variant, 3)
    main = recs.shop.add(
        "/home.html",
        shop_page(
            recs.server.url,
            recs.site_id,
            "eS('sendEvent', 'MainPage');",
            body="<div id='recs'></div>",
        ),
    )
    # The product pages the block links to: schema.org markup, a buy button, the purchase.
    for i in range(3):
        ld = json.dumps(
            {
                "@context": "https://schema.org",
                "@type": "Product",
                "sku": f"p{i}",
                "offers": {"@type": "Offer", "price": 10 + i, "priceCurrency": "EUR"},
            }
        )
        buy = f"""
        window.buy = function () {{
          eS('sendEvent', 'StatusCart', {{StatusCart: {{GUID: 'cart-1', Products: [
            {{productKey: 'p{i}', price: {10 + i}, quantity: 2}}]}}}});
          eS('sendEvent', 'PurchasedItems', {{OrderNumber: 'o-1', PurchasedItems: [
            {{productKey: 'p{i}', price: {10 + i}, quantity: 2}}]}});
        }};"""
        recs.shop.add(
            f"/p/{i}",
            shop_page(
                recs.server.url,
                recs.site_id,
                buy,
                head=f"<script type='application/ld+json'>{ld}</script>",
                body="<button id='buy' onclick='buy()'>Buy</button>",
            ),
        )
    page.goto(main)
    page.wait_for_selector("#recs .sc-recs a")
    link = page.query_selector("#recs .sc-recs a")
    href = link.get_attribute("href")
    assert f"sc_content={container}" in href
    bought = href.split("/p/")[1].split("?")[0]
    link.click()
    page.wait_for_url(f"**/p/{bought}?sc_content={container}")
    recs.stored.wait(
        lambda events: any(
            e["type"] == "ProductPage" and e["location"] == container for e in events
        )
    )
    page.click("#buy")
    recs.stored.wait(lambda events: any(e["type"] == "PurchasedItems" for e in events))

    def attributed() -> dict[str, Any] | None:
        row = recs.report().get(variant)
        return row if row and row["purchases"] == 1 else None

    row = wait_until(attributed, timeout=15, what="the purchase in the block report")
    assert row["block_id"] == block["block_id"]  # a number, as in /api/v1/blocks
    assert row["impressions"] == 1 and row["clicks"] == 1 and row["add_to_carts"] == 1
    assert row["items"] == 2 and row["revenue"] == pytest.approx(2 * (10 + int(bought)))
    assert row["ctr"] == 1.0 and row["conversion"] == 1.0
    assert row["assisted_purchases"] == 1
    assert row["assisted_revenue"] == pytest.approx(row["revenue"])
    # Attributed by the click: the purchase itself named no block.
    purchase = recs.stored.of_type("PurchasedItems")[0]
    assert purchase["tags"] == {}
