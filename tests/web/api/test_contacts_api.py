"""POST/GET/DELETE /api/v1/contacts and the site settings, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from tests.support.identity import (
    auth,
    customer_data,
    drain,
    post_contacts,
    product_view,
    send_browser,
)


def test_single_contact_is_created_then_updated_by_external_id(
    client: TestClient, site: tuple[str, str]
) -> None:
    _, key = site
    first = post_contacts(
        client,
        key,
        {
            "externalCustomerId": "C-1",
            "email": " Anna@Example.COM ",
            "firstName": "Anna",
            "fields": {"tier": "gold"},
        },
    )
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["created"] is True
    contact = body["contact"]
    assert contact["email"] == "anna@example.com"
    assert contact["fields"] == {"tier": "gold"}
    second = post_contacts(client, key, {"externalCustomerId": "C-1", "city": "Gdańsk"}).json()
    assert second["created"] is False
    assert second["contact"]["id"] == contact["id"]
    assert second["contact"]["city"] == "Gdańsk"
    assert second["contact"]["firstName"] == "Anna"
    got = client.get(f"/api/v1/contacts/{contact['id']}", headers=auth(key)).json()
    assert got["contact"]["email"] == "anna@example.com"


def test_matching_order_external_id_then_email_then_phone(
    client: TestClient, site: tuple[str, str]
) -> None:
    _, key = site
    by_phone = post_contacts(client, key, {"phone": "+380501234567"}).json()["contact"]["id"]
    by_email = post_contacts(client, key, {"email": "b@example.com"}).json()["contact"]["id"]
    # Email matches first: the phone of the row joins the email's contact? No: both match,
    # so they are one person and merge (the older survives).
    merged = post_contacts(
        client, key, {"email": "b@example.com", "phone": "+380 50 123 45 67"}
    ).json()
    assert merged["contact"]["id"] == by_phone
    assert merged["contact"]["email"] == "b@example.com"
    old = client.get(f"/api/v1/contacts/{by_email}", headers=auth(key)).json()
    assert old["contact"]["id"] == by_phone  # a merged id resolves to the survivor
    # externalCustomerId wins over email.
    ext = post_contacts(client, key, {"externalCustomerId": "X9", "email": "c@example.com"})
    ext_id = ext.json()["contact"]["id"]
    again = post_contacts(client, key, {"externalCustomerId": "X9", "email": "d@example.com"})
    assert again.json()["contact"]["id"] == ext_id
    assert again.json()["contact"]["email"] == "d@example.com"


def test_bulk_lists_failed_rows_and_stores_the_good_ones(
    client: TestClient, site: tuple[str, str]
) -> None:
    _, key = site
    rows = [
        {"email": "ok1@example.com"},
        {"email": "not-an-email"},
        {"phone": "12"},
        {"firstName": "no identifier"},
        {"email": "ok2@example.com", "phone": "+44 20 7946 0958"},
        {"externalCustomerId": "E1", "email": "ok1@example.com"},
        {"email": "bad@example.com", "nickname": "x"},
    ]
    response = post_contacts(client, key, {"contacts": rows})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stored"] == 3
    failed = {f["index"]: f["error"]["field"] for f in body["failed"]}
    assert failed == {1: "email", 2: "phone", 3: "externalCustomerId", 6: "nickname"}
    stored = {c["index"]: c["id"] for c in body["contacts"]}
    assert stored[5] == stored[0]  # same e-mail: the same contact, now with its external id
    found = client.get(
        "/api/v1/contacts", params={"externalCustomerId": "E1"}, headers=auth(key)
    ).json()["contacts"]
    assert [c["email"] for c in found] == ["ok1@example.com"]
    assert client.get(
        "/api/v1/contacts", params={"email": "bad@example.com"}, headers=auth(key)
    ).json() == {"contacts": [], "next": None}


def test_bulk_of_3000_and_the_limit(client: TestClient, site: tuple[str, str]) -> None:
    _, key = site
    rows = [
        {
            "externalCustomerId": f"ID-{i}",
            "email": f"user{i}@example.com",
            "phone": f"+1650253{i:04d}",
            "firstName": f"User {i}",
            "city": "Kyiv",
        }
        for i in range(3000)
    ]
    started = time.perf_counter()
    response = post_contacts(client, key, {"contacts": rows})
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stored"] == 3000 and body["created"] == 3000, body["failed"][:3]
    print(f"\n3000-contact bulk: {elapsed:.2f}s ({3000 / elapsed:,.0f} contacts/s)")
    again = post_contacts(client, key, {"contacts": rows}).json()
    assert again["updated"] == 3000 and again["created"] == 0
    too_many = post_contacts(client, key, {"contacts": [*rows, {"email": "x@example.com"}]})
    assert too_many.status_code == 413
    assert too_many.json()["error"]["field"] == "contacts"


def test_invalid_single_contact_names_the_field_and_stores_nothing(
    client: TestClient, site: tuple[str, str]
) -> None:
    _, key = site
    response = post_contacts(client, key, {"email": "ok@example.com", "phone": "abc"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "phone"
    found = client.get("/api/v1/contacts", params={"email": "ok@example.com"}, headers=auth(key))
    assert found.json() == {"contacts": [], "next": None}
    assert client.post("/api/v1/contacts", content=b"[1", headers=auth(key)).status_code == 400
    assert client.post("/api/v1/contacts", json={"email": "a@b.co"}).status_code == 401


def test_site_default_region_reads_national_numbers(
    client: TestClient, site: tuple[str, str]
) -> None:
    _, key = site
    assert post_contacts(client, key, {"phone": "050 123 45 67"}).status_code == 400
    response = client.patch(
        "/api/v1/site/settings", json={"default_region": "ua"}, headers=auth(key)
    )
    assert response.json()["settings"] == {"default_region": "UA"}
    created = post_contacts(client, key, {"phone": "050 123 45 67"}).json()["contact"]
    assert created["phone"] == "+380501234567"
    bad = client.patch("/api/v1/site/settings", json={"default_region": "XX"}, headers=auth(key))
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "default_region"
    found = client.get(
        "/api/v1/contacts", params={"phone": "0501234567"}, headers=auth(key)
    ).json()["contacts"]
    assert [c["id"] for c in found] == [created["id"]]


def test_history_includes_anonymous_events_of_the_visitor(
    client: TestClient, site: tuple[str, str]
) -> None:
    site_id, key = site
    send_browser(client, site_id, "v-anon", product_view("P1"), product_view("P2"))
    send_browser(client, site_id, "v-anon", customer_data(user_email="Shopper@Example.com"))
    drain(client)
    found = client.get(
        "/api/v1/contacts", params={"email": "shopper@example.com"}, headers=auth(key)
    ).json()["contacts"]
    assert len(found) == 1 and found[0]["visitors"][0]["visitor_id"] == "v-anon"
    history = client.get(f"/api/v1/contacts/{found[0]['id']}/events", headers=auth(key)).json()
    types = [e["type"] for e in history["events"]]
    assert types == ["CustomerData", "ProductPage", "ProductPage"]
    assert [e["products"][0]["key"] for e in history["events"][1:]] == ["P2", "P1"]


def test_delete_erases_and_export_returns_everything(
    client: TestClient, site: tuple[str, str]
) -> None:
    site_id, key = site
    contact = post_contacts(
        client, key, {"email": "erase@example.com", "phone": "+16502530000", "lastName": "Doe"}
    ).json()["contact"]
    send_browser(client, site_id, "v-1", product_view("P1"))
    send_browser(client, site_id, "v-1", customer_data(user_email="erase@example.com"))
    drain(client)
    export = client.get(f"/api/v1/contacts/{contact['id']}/export", headers=auth(key)).json()
    assert export["contact"]["lastName"] == "Doe"
    assert len(export["events"]) == 2
    assert export["events"][1]["identity"] == {"user_email": "erase@example.com"}
    erased = client.delete(f"/api/v1/contacts/{contact['id']}", headers=auth(key))
    assert erased.status_code == 200, erased.text
    assert erased.json()["events_unlinked"] == 2
    assert client.get(f"/api/v1/contacts/{contact['id']}", headers=auth(key)).status_code == 404
    assert client.delete(f"/api/v1/contacts/{contact['id']}", headers=auth(key)).status_code == 404
    events = client.get("/api/v1/events", headers=auth(key)).json()["events"]
    assert len(events) == 2
    assert all(e["visitor_id"].startswith("erased-") for e in events)
    assert all(e["identified"] is False for e in events)
