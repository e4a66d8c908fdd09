"""/api/v1/segments end to end through the collector and the processors, on both stores."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.identity import (
    auth,
    customer_data,
    drain,
    post_contacts,
    product_view,
    send_browser,
)

KEEN = {"match": {"condition": "event", "event": "viewed", "count": {"op": ">=", "value": 2}}}


def test_create_preview_members_history_and_delete(
    client: TestClient, site: tuple[str, str]
) -> None:
    site_id, key = site
    contact = post_contacts(client, key, {"email": "ann@example.com"}).json()["contact"]["id"]
    ann_events = (
        customer_data(user_email="ann@example.com"),
        product_view("p1"),
        product_view("p2"),
    )
    send_browser(client, site_id, "v-ann", *ann_events)
    send_browser(client, site_id, "v-anon", product_view("p1"), product_view("p2"))
    send_browser(client, site_id, "v-once", product_view("p1"))
    drain(client)
    preview = client.post("/api/v1/segments/preview", json={"definition": KEEN}, headers=auth(key))
    assert preview.status_code == 200, preview.text
    assert preview.json()["count"] == 2 and preview.json()["contacts"] == 1
    made = client.post(
        "/api/v1/segments", json={"name": "Keen", "definition": KEEN}, headers=auth(key)
    )
    assert made.status_code == 201, made.text
    segment = made.json()
    assert segment["members"] == 2 and segment["definition"]["version"] == 1
    page = client.get(f"/api/v1/segments/{segment['id']}/contacts", headers=auth(key)).json()
    assert [c["contact_id"] for c in page["contacts"]] == [contact] and page["next"] is None
    # A second view by the one-time visitor arrives: the worker's processors take it in.
    send_browser(client, site_id, "v-once", product_view("p3"))
    drain(client)
    again = client.get(f"/api/v1/segments/{segment['id']}", headers=auth(key)).json()
    assert again["members"] == 3
    history = client.get(f"/api/v1/segments/{segment['id']}/history", headers=auth(key)).json()
    assert history["changes"][0] == {
        "contact_id": None,
        "visitor_id": "v-once",
        "change": "entered",
        "at": history["changes"][0]["at"],
    }
    assert history["counts"][-1]["members"] == 3
    listed = client.get("/api/v1/segments", headers=auth(key)).json()["segments"]
    assert [s["name"] for s in listed] == ["Keen"]
    assert client.delete(f"/api/v1/segments/{segment['id']}", headers=auth(key)).status_code == 204
    assert client.get(f"/api/v1/segments/{segment['id']}", headers=auth(key)).status_code == 404


def test_invalid_definitions_name_the_field(client: TestClient, site: tuple[str, str]) -> None:
    _, key = site
    bad = {
        "match": {
            "all": [{"condition": "event", "event": "viewed", "count": {"op": "~", "value": 1}}]
        }
    }
    answer = client.post(
        "/api/v1/segments", json={"name": "X", "definition": bad}, headers=auth(key)
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["field"] == "definition.match.all.0.count.op" and "'>='" in error["message"]
    unknown = client.post(
        "/api/v1/segments/preview",
        json={"definition": {"match": {"condition": "mood"}}},
        headers=auth(key),
    )
    assert unknown.status_code == 400 and "mood" in unknown.json()["error"]["message"]
    other_site_segment = client.get("/api/v1/segments/999", headers=auth(key))
    assert other_site_segment.status_code == 404


def test_contact_field_conditions_through_the_api(
    client: TestClient, site: tuple[str, str]
) -> None:
    site_id, key = site
    praha = post_contacts(client, key, {"email": "a@example.com", "city": "Praha"})
    post_contacts(client, key, {"email": "b@example.com", "fields": {"tier": "gold"}})
    # An identified visitor whose city came with an event, not through the API.
    send_browser(
        client, site_id, "v1", customer_data(user_email="c@example.com", user_city="PRAHA")
    )
    drain(client)
    in_praha = {"match": {"condition": "contact", "field": "city", "equals": " praha"}}
    preview = client.post(
        "/api/v1/segments/preview", json={"definition": in_praha}, headers=auth(key)
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["count"] == 2
    assert praha.json()["contact"]["id"] in {s["contact_id"] for s in preview.json()["sample"]}
    made = client.post(
        "/api/v1/segments", json={"name": "Praha", "definition": in_praha}, headers=auth(key)
    )
    assert made.status_code == 201, made.text
    assert made.json()["definition"]["match"] == {
        "condition": "contact", "field": "city", "equals": " praha",
    }  # fmt: skip
    bad = {"match": {"condition": "contact", "field": "city"}}
    refused = client.post(
        "/api/v1/segments", json={"name": "Bad", "definition": bad}, headers=auth(key)
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["field"] == "definition.match.field"
