"""What the tracker remembers across pages: identity, sc_content attribution; and the product
page it recognises by itself from schema.org markup."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.support.server import ServerProcess
from tests.tracker.helpers import ShopServer, StoredEvents, names, shop_page

pytestmark = pytest.mark.browser

EMAIL = "visitor.identity@example.com"


def _loaded(page: Any) -> None:
    page.wait_for_function("window.eS && window.eS.shoptrack === true")


def test_identity_is_remembered_and_attached_to_later_events_on_later_pages(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
) -> None:
    site_id = shop_site[0]
    login = shop.add(
        "/login",
        shop_page(
            collector.url,
            site_id,
            "eS('sendEvent', 'MainPage');"
            "eS('sendEvent', 'CustomerData', {CustomerData: {user_email: '" + EMAIL + "',"
            " externalCustomerId: 'ext-77', user_name: 'Ann'}});",
            init={"TRACKING": False},
        ),
    )
    product = shop.add(
        "/product",
        shop_page(
            collector.url,
            site_id,
            "eS('sendEvent', 'ProductPage', {ProductPage: {productKey: 'P-1'}});",
            init={"TRACKING": False},
        ),
    )
    page.goto(login)
    stored.wait(count=3)
    page.goto(product)
    events = stored.wait(count=5)
    assert names(events) == ["PageView", "MainPage", "CustomerData", "PageView", "ProductPage"]
    # Before the visitor identified: anonymous; from the CustomerData on: identified.
    assert [e["identified"] for e in events] == [False, False, True, True, True]
    assert len({e["visitor_id"] for e in events}) == 1
    assert EMAIL not in stored.raw() and "ext-77" not in stored.raw()

    # GeneralInfo passed with an event is remembered the same way (a new visitor here).
    other = page.context.browser.new_context()
    try:
        second = other.new_page()
        with_info = shop.add(
            "/with-info",
            shop_page(
                collector.url,
                site_id,
                "eS('sendEvent', 'ProductPage', {GeneralInfo: {user_phone: '380501234567'},"
                " ProductPage: {productKey: '24-WG02'}});",
                init={"TRACKING": False},
            ),
        )
        second.goto(with_info)
        second.wait_for_function("window.eS && window.eS.shoptrack === true")
        second.evaluate("eS('sendEvent', 'MainPage')")
        later = stored.wait(count=8)[5:]
        assert names(later) == ["PageView", "ProductPage", "MainPage"]
        assert [e["identified"] for e in later] == [False, True, True]
        assert "380501234567" not in stored.raw()
    finally:
        other.close()


def test_web_push_contact_id_from_local_storage_identifies(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
) -> None:
    url = shop.add(
        "/push",
        shop_page(
            collector.url,
            shop_site[0],
            body="<script>localStorage.setItem('esWebPushContactId', '100500')</script>",
            init={"TRACKING": False},
        ),
    )
    page.goto(url)
    events = stored.wait(count=1)
    assert events[0]["identified"] is True


def test_sc_content_is_attributed_to_the_next_product_page_and_the_purchase(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
) -> None:
    site_id = shop_site[0]
    landing = shop.add("/landing", shop_page(collector.url, site_id, init={"TRACKING": False}))
    product = shop.add(
        "/item",
        shop_page(
            collector.url,
            site_id,
            "eS('sendEvent', 'ProductPage', {ProductPage: {productKey: 'P-9'}});",
            init={"TRACKING": False},
        ),
    )
    checkout = shop.add(
        "/checkout",
        shop_page(
            collector.url,
            site_id,
            "eS('sendEvent', 'MainPage');"
            "eS('sendEvent', 'PurchasedItems', {OrderNumber: 'A-1', PurchasedItems:"
            " [{productKey: 'P-9', price: '10', quantity: '1'}]});"
            "eS('sendEvent', 'ProductPage', {ProductPage: {productKey: 'P-10'}});",
            init={"TRACKING": False},
        ),
    )
    page.goto(landing + "?utm_source=mail&sc_content=19534_r24v435")
    stored.wait(count=1)
    page.goto(product)
    stored.wait(count=3)
    page.goto(checkout)
    events = stored.wait(count=7)
    assert names(events) == [
        "PageView",
        "PageView",
        "ProductPage",
        "PageView",
        "MainPage",
        "PurchasedItems",
        "ProductPage",
    ]
    locations = [e["location"] for e in events]
    # The landing page (from its URL), the product page and the purchase are attributed;
    # the purchase closes the attribution, so the product page after it is not.
    assert locations == ["19534_r24v435", None, "19534_r24v435", None, None, "19534_r24v435", None]


def _product_markup(**offer: Any) -> str:
    data = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "BreadcrumbList", "itemListElement": []},
            {
                "@type": ["Product"],
                "name": "Fusion Backpack",
                "sku": "24-MB02",
                "offers": {"@type": "Offer", **offer},
            },
        ],
    }
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


def test_product_page_recognised_from_json_ld(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
) -> None:
    head = '<script type="application/ld+json">{ not json</script>' + _product_markup(
        price="59.90", priceCurrency="EUR", availability="https://schema.org/InStock"
    )
    url = shop.add("/jsonld", shop_page(collector.url, shop_site[0], head=head))
    page.goto(url)
    events = stored.wait(count=2)
    assert names(events) == ["PageView", "ProductPage"]
    product = events[1]["products"][0]
    assert (product["key"], product["price"], product["currency"], product["in_stock"]) == (
        "24-MB02",
        59.9,
        "EUR",
        True,
    )


def test_product_page_recognised_from_microdata_out_of_stock(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
) -> None:
    body = """<div itemscope itemtype="https://schema.org/Product">
      <h1 itemprop="name">Didi Sport Watch</h1><meta itemprop="sku" content="24-WG02">
      <div itemprop="offers" itemscope itemtype="https://schema.org/Offer">
        <span itemprop="price" content="92.00">$92</span>
        <meta itemprop="priceCurrency" content="USD">
        <link itemprop="availability" href="https://schema.org/OutOfStock">
      </div></div>"""
    url = shop.add("/microdata", shop_page(collector.url, shop_site[0], body=body))
    page.goto(url)
    events = stored.wait(count=2)
    product = events[1]["products"][0]
    assert (product["key"], product["price"], product["currency"], product["in_stock"]) == (
        "24-WG02",
        92.0,
        "USD",
        False,
    )


def test_no_automatic_product_page_when_the_page_sends_its_own_or_tracking_is_off(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
) -> None:
    head = _product_markup(price="59.90", priceCurrency="EUR")
    own = shop.add(
        "/own",
        shop_page(
            collector.url,
            shop_site[0],
            "window.addEventListener('DOMContentLoaded', function () {"
            " eS('sendEvent', 'ProductPage', {ProductPage: {productKey: 'own-key'}}); });",
            head=head,
        ),
    )
    off = shop.add(
        "/off", shop_page(collector.url, shop_site[0], head=head, init={"TRACKING": False})
    )
    page.goto(own)
    _loaded(page)
    page.wait_for_load_state("load")
    page.goto(off)
    _loaded(page)
    page.wait_for_load_state("load")
    page.evaluate("eS('sendEvent', 'MainPage')")
    events = stored.wait(lambda evs: "MainPage" in names(evs))
    assert names(events) == ["PageView", "ProductPage", "PageView", "MainPage"]
    assert events[1]["products"][0]["key"] == "own-key"
