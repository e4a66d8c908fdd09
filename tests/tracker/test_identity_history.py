"""Issue 4 in a real browser: an anonymous visitor browses product pages, then logs in
(CustomerData); the contact's history shows the product views from before the login."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.support.server import ServerProcess
from tests.tracker.helpers import ShopServer, StoredEvents, shop_page, wait_until

pytestmark = pytest.mark.browser

EMAIL = "History.Shopper@Example.com"


def test_contact_history_includes_anonymous_product_views(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
) -> None:
    site_id, key = shop_site
    headers = {"Authorization": f"Bearer {key}"}
    products = [
        shop.add(
            f"/history/product-{sku}",
            shop_page(
                collector.url,
                site_id,
                f"eS('sendEvent', 'ProductPage', {{ProductPage: {{productKey: '{sku}'}}}});",
                init={"TRACKING": False},
            ),
        )
        for sku in ("HIST-1", "HIST-2")
    ]
    login = shop.add(
        "/history/login",
        shop_page(
            collector.url,
            site_id,
            "eS('sendEvent', 'CustomerData', {CustomerData: {user_email: '" + EMAIL + "',"
            " user_name: 'Hanna'}});",
            init={"TRACKING": False},
        ),
    )
    for url in products:
        page.goto(url)
        stored.wait(lambda events, u=url: any(e["page"]["url"] == u for e in events))
    anonymous = [e for e in stored.all() if e["type"] == "ProductPage"]
    assert [e["identified"] for e in anonymous] == [False, False]
    page.goto(login)
    stored.wait(lambda events: any(e["type"] == "CustomerData" for e in events))

    # The server's in-process worker links the visitor; the contact is created right away.
    found: list[dict[str, Any]] = []

    def linked() -> bool:
        nonlocal found
        answer = httpx.get(
            f"{collector.url}/api/v1/contacts", params={"email": EMAIL}, headers=headers
        )
        found = answer.json()["contacts"]
        return bool(found)

    wait_until(linked, 15.0, "the contact made from CustomerData")
    contact = found[0]
    assert contact["email"] == EMAIL.lower() and contact["firstName"] == "Hanna"
    visitor = anonymous[0]["visitor_id"]
    assert [v["visitor_id"] for v in contact["visitors"]] == [visitor]

    history = httpx.get(
        f"{collector.url}/api/v1/contacts/{contact['id']}/events", headers=headers
    ).json()["events"]
    views = [e for e in history if e["type"] == "ProductPage"]
    assert sorted(e["products"][0]["key"] for e in views) == ["HIST-1", "HIST-2"]
    assert all(e["identified"] is False for e in views)  # sent before the login
    assert any(e["type"] == "CustomerData" for e in history)
    assert EMAIL.lower() not in stored.raw().lower()
