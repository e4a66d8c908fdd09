"""Helpers for identity tests: API calls and running the processors to completion."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.testclient import TestClient

from shoptrack.services import Services
from tests.support.payloads import browser_event, webevent_body


def services_of(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def drain(client: TestClient) -> None:
    """Run every processor over every committed event, now."""
    services_of(client).runner.drain()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def post_contacts(client: TestClient, key: str, body: Any) -> Any:
    return client.post("/api/v1/contacts", json=body, headers=auth(key))


def send_browser(
    client: TestClient, site_id: str, visitor: str, *events: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    body = webevent_body(site_id, *events, visitor_id=visitor, **extra)
    response = client.post(
        "/webevent", content=orjson.dumps(body), headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def product_view(key: str) -> dict[str, Any]:
    return browser_event("ProductPage", {"ProductPage": {"productKey": key, "price": "10"}})


def customer_data(**fields: Any) -> dict[str, Any]:
    return browser_event("CustomerData", {"CustomerData": fields})


def event_row(
    keyring: Any,
    site_id: str,
    visitor_id: str,
    event_type: str = "ProductPage",
    identity: dict[str, Any] | None = None,
) -> Any:
    """An event-log row as the collector would write it (for store-level tests)."""
    import secrets
    import time

    from shoptrack.identity.crypto import PURPOSE_EVENT_IDENTITY
    from shoptrack.store.rows import EventRow

    event_id = secrets.token_hex(8)
    now = int(time.time() * 1000)
    data = {
        "id": event_id,
        "site_id": site_id,
        "type": event_type,
        "visitor_id": visitor_id,
        "contact_id": None,
        "ip": "192.0.2.0",
        "identified": bool(identity),
        "products": [{"key": "P-" + event_id[:4]}] if event_type == "ProductPage" else [],
    }
    return EventRow(
        site_id=site_id,
        event_id=event_id,
        type=event_type,
        occurred_at=now,
        received_at=now,
        visitor_id=visitor_id,
        session_id="s-" + visitor_id,
        contact_id=None,
        source="browser",
        cart_guid=None,
        data=orjson.dumps(data).decode(),
        identity_enc=keyring.encrypt_json(identity, PURPOSE_EVENT_IDENTITY) if identity else None,
    )
