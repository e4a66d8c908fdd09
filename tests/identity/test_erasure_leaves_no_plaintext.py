"""Issue 13 point 2: personal data outside the identity fields never reaches the event log's
plaintext, so erasing the contact leaves none behind (checked in the raw SQLite file and in
the text of every PostgreSQL row)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from shoptrack.config import Settings
from shoptrack.store.tables import events
from tests.support.identity import auth, drain, services_of
from tests.support.stored import found_in, stored_bytes

EMAIL = "erase.me@pii.example"
PHONE = "+380501234567"
OTHER_PHONE = "0671112233"
NAME_EMAIL = "olena.private@pii.example"


def _issue_body(site_id: str) -> dict[str, Any]:
    """The issue's reproduction, plus the other places it lists (page URL, title, tags…)."""
    return {
        "site_id": site_id,
        "visitor_id": "v1",
        "page": {
            "url": f"https://shop.example/checkout?tel={OTHER_PHONE}&email={EMAIL}&step=2",
            "referrer": f"https://shop.example/account?phone=%2B380501234567&u={NAME_EMAIL}",
            "title": f"Olena ({NAME_EMAIL}, {PHONE}) – My account",
        },
        "events": [
            {
                "id": "p1",
                "name": "CustomerData",
                "payload": {"CustomerData": {"user_email": EMAIL}},
            },
            {
                "id": "p2",
                "name": "PurchasedItems",
                "payload": {
                    "PurchasedItems": {
                        "OrderNumber": "o1",
                        "email": EMAIL,
                        "phone": PHONE,
                        "customer": {"phone": OTHER_PHONE, "mail": EMAIL},
                        "Products": [
                            {
                                "productKey": "SKU1",
                                "price": "10",
                                "quantity": "1",
                                "tag_email": [EMAIL],
                                "note": f"call {PHONE}",
                            }
                        ],
                        "Tags": {"email": [EMAIL], "phone": [OTHER_PHONE]},
                    }
                },
            },
            {
                "id": "p3",
                "name": "ProductPage",
                "payload": {"ProductPage": {"productKey": "SKU1", "email": EMAIL}},
            },
        ],
    }


def _assert_clean(client: TestClient, settings: Settings, when: str) -> None:
    engine = services_of(client).engine
    blob = stored_bytes(engine, settings.database_url)
    assert len(blob) > 1000
    assert found_in(blob, EMAIL, PHONE, OTHER_PHONE, NAME_EMAIL) == [], when


def test_issue_reproduction_leaves_no_email_or_phone_in_events_before_or_after_erasure(
    client: TestClient, site: tuple[str, str], settings: Settings
) -> None:
    site_id, key = site
    response = client.post(
        "/webevent",
        content=orjson.dumps(_issue_body(site_id)),
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 3, response.text
    drain(client)
    engine = services_of(client).engine
    if settings.database_url.startswith("sqlite"):
        with engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    _assert_clean(client, settings, "before erasure")

    # The purchase is kept, readable, with placeholders where the personal data was.
    with engine.connect() as conn:
        stored = conn.execute(
            select(events.c.data).where(events.c.site_id == site_id, events.c.event_id == "p2")
        ).scalar_one()
    purchase = orjson.loads(stored)
    section = purchase["payload"]["PurchasedItems"]
    assert section["email"] == "[email]" and section["phone"] == "[phone]"
    assert purchase["order_number"] == "o1"
    assert purchase["products"][0]["key"] == "SKU1" and purchase["products"][0]["price"] == 10.0
    assert purchase["page"]["url"].endswith("?tel=[phone]&email=[email]&step=2")

    found = client.get("/api/v1/contacts", params={"email": EMAIL}, headers=auth(key)).json()
    contact_id = found["contacts"][0]["id"]
    erased = client.delete(f"/api/v1/contacts/{contact_id}", headers=auth(key))
    assert erased.status_code == 200, erased.text
    _assert_clean(client, settings, "after erasure")
    with engine.connect() as conn:
        kept = conn.execute(
            select(events.c.event_id).where(events.c.site_id == site_id).order_by(events.c.seq)
        ).scalars()
        assert list(kept) == ["p1", "p2", "p3"]
