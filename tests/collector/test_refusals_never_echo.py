"""Issue 13 point 2: a refusal names the field and what was expected, never the value.

Refusal messages and fields are stored in the clear (``rejected_events.message``/``field``) and
answered to the client; the refused value may be an e-mail or a phone.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import select

from shoptrack.store.tables import rejected_events
from tests.support.identity import auth, services_of
from tests.support.payloads import browser_event, rest_body, webevent_body

EMAIL = "x.refused@pii.example"
PHONE = "+380 50 999 88 77"


def _refused_events() -> list[dict[str, Any]]:
    """One event per refusal that used to quote the value it refused."""
    cart = {"productKey": "K1", "quantity": "1"}
    return [
        browser_event("ProductPage", {"ProductPage": {"productKey": "K1", "price": EMAIL}}),
        browser_event(
            "StatusCart", {"StatusCart": [{**cart, "price": f"call {PHONE}"}], "GUID": "g1"}
        ),
        browser_event(
            "StatusCart",
            {"StatusCart": [{"productKey": "K", "price": "1", "quantity": EMAIL}], "GUID": "g"},
        ),
        browser_event("ProductPage", {"ProductPage": {"productKey": "K1", "isInStock": PHONE}}),
        browser_event(EMAIL, {}),
        browser_event(PHONE, {}),
        browser_event("PurchasedItems", {"PurchasedItems": {"OrderNumber": "o", "GUID": EMAIL}}),
        browser_event("ProductPage", {"ProductPage": {"productKey": {"x": EMAIL}}}),
        browser_event("CategoryPage", {"CategoryPage": {EMAIL: PHONE}}),
        browser_event("ProductPage", {"ProductPage": {"productKey": "K1"}}, id=EMAIL),
    ]


def test_refused_values_are_not_in_the_answer_nor_in_rejected_events(
    client: TestClient, site: tuple[str, str]
) -> None:
    site_id, key = site
    events = _refused_events()
    response = client.post(
        "/webevent",
        content=orjson.dumps(webevent_body(site_id, *events)),
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 400, response.text  # every event of the batch refused
    answer = response.json()
    assert answer["accepted"] == 0 and len(answer["rejected"]) == len(events), response.text
    rest = rest_body(site_id, "ProductPage", {"ProductPage": {"productKey": "1", "price": EMAIL}})
    rest_response = client.post("/api/v2", json=rest, headers=auth(key))
    assert rest_response.status_code == 400, rest_response.text

    with services_of(client).engine.connect() as conn:
        rows = conn.execute(
            select(
                rejected_events.c.message, rejected_events.c.field, rejected_events.c.event_id
            ).where(rejected_events.c.site_id == site_id)
        ).all()
    assert len(rows) == len(events) + 1
    stored = orjson.dumps([list(row) for row in rows]).decode()
    for text in (response.text, rest_response.text, stored):
        for value in (EMAIL, PHONE, PHONE.replace(" ", ""), "x.refused"):
            assert value not in text, (value, text)
    # Each refusal still says which field and what was expected.
    fields = {r["error"]["field"] for r in answer["rejected"]}
    assert "ProductPage.price" in fields and "StatusCart[0].price" in fields
    by_field = {r["error"]["field"]: r["error"]["message"] for r in answer["rejected"]}
    assert "expected a price" in by_field["ProductPage.price"]
    assert "a string of 21 characters" in by_field["ProductPage.price"]


def test_a_refused_body_with_an_address_for_its_site_id_stores_no_address(
    client: TestClient, site: tuple[str, str]
) -> None:
    body = webevent_body(EMAIL, browser_event("PageView", {}), visitor_id=PHONE)
    response = client.post(
        "/webevent", content=orjson.dumps(body), headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 400, response.text
    assert EMAIL not in response.text and PHONE not in response.text
    with services_of(client).engine.connect() as conn:
        rows = conn.execute(
            select(
                rejected_events.c.site_id,
                rejected_events.c.event_id,
                rejected_events.c.message,
                rejected_events.c.field,
            )
        ).all()
    assert rows
    stored = orjson.dumps([list(row) for row in rows]).decode()
    assert EMAIL not in stored and "x.refused" not in stored, stored
