"""Issue 13 point 10 in a real browser: the tracker forwards the shop's signature (user_hash)
with the identity it remembers, and a site that requires signing links only signed browsers."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from tests.support.server import ServerProcess
from tests.tracker.helpers import ShopServer, StoredEvents, shop_page, wait_until

from shoptrack.identity.signing import sign

pytestmark = pytest.mark.browser

SHOPPER = "signed.shopper@example.com"
STRANGER = "stranger@example.com"


def _contact(collector: ServerProcess, key: str, email: str) -> dict[str, Any] | None:
    answer = httpx.get(
        f"{collector.url}/api/v1/contacts",
        params={"email": email},
        headers={"Authorization": f"Bearer {key}"},
    )
    found: list[dict[str, Any]] = answer.json()["contacts"]
    return found[0] if found else None


def _customer_data(fields: dict[str, str]) -> str:
    return f"eS('sendEvent', 'CustomerData', {{CustomerData: {json.dumps(fields)}}});"


def test_the_signature_travels_with_the_identity_and_only_signed_browsers_link(
    browser: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
) -> None:
    site_id, key = shop_site
    configured = httpx.patch(
        f"{collector.url}/api/v1/site/settings",
        json={"identity_secret": "new", "require_signed_identity": True},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert configured.status_code == 200, configured.text
    secret = configured.json()["identity_secret"]
    signed = {"user_email": SHOPPER, "user_hash": sign(secret, SHOPPER)}

    def page_with(path: str, calls: str) -> str:
        return shop.add(path, shop_page(collector.url, site_id, calls, init={"TRACKING": False}))

    login = page_with("/signed/login", _customer_data(signed))
    product = page_with(
        "/signed/product", "eS('sendEvent', 'ProductPage', {ProductPage: {productKey: 'SIG-1'}});"
    )
    # Someone else's browser claims the shopper's e-mail without a signature.
    claim = page_with("/signed/claim", _customer_data({"user_email": SHOPPER}))

    shopper = browser.new_context()
    stranger = browser.new_context()
    try:
        page = shopper.new_page()
        bodies: list[dict[str, Any]] = []
        page.on(
            "request",
            lambda r: (
                bodies.append(json.loads(r.post_data))
                if r.method == "POST" and r.url.endswith("/webevent")
                else None
            ),
        )
        page.goto(login)
        stored.wait(lambda events: any(e["type"] == "CustomerData" for e in events))
        page.goto(product)
        stored.wait(lambda events: any(e["type"] == "ProductPage" for e in events))

        def product_general() -> Any:
            for body in bodies:
                for event in body["events"]:
                    if event["name"] == "ProductPage":
                        return event.get("general")
            return None

        # The later page's event carries the remembered identity with its signature.
        general = wait_until(product_general, what="the ProductPage request", page=page)
        assert general["user_email"] == SHOPPER and general["user_hash"] == signed["user_hash"]

        claimer = stranger.new_page()
        claimer.goto(claim)
        stored.wait(lambda events: sum(e["type"] == "CustomerData" for e in events) == 2)
        # Then a signed stranger: once it is linked, the claim before it was processed too.
        claimer.goto(
            page_with(
                "/signed/stranger",
                _customer_data({"user_email": STRANGER, "user_hash": sign(secret, STRANGER)}),
            )
        )
        wait_until(lambda: _contact(collector, key, STRANGER), 15.0, "the stranger's contact")
    finally:
        shopper.close()
        stranger.close()

    contact = _contact(collector, key, SHOPPER)
    assert contact is not None
    shopper_visitor = next(e for e in stored.all() if e["type"] == "ProductPage")["visitor_id"]
    assert [v["visitor_id"] for v in contact["visitors"]] == [shopper_visitor]
