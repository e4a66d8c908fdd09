from __future__ import annotations

import orjson
from fastapi.testclient import TestClient

from tests.support.payloads import browser_event, rest_body, webevent_body


def test_webevent_stores_and_lists(client: TestClient, site: tuple[str, str]) -> None:
    site_id, key = site
    body = webevent_body(
        site_id,
        browser_event(
            "ProductPage",
            {"ProductPage": {"productKey": "24-MB02", "price": "153", "isInStock": 1}},
            event_id="e-1",
        ),
    )
    response = client.post(
        "/webevent", content=orjson.dumps(body), headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json()["accepted"] == 1
    listed = client.get("/api/v1/events", headers={"Authorization": f"Bearer {key}"}).json()
    assert [e["id"] for e in listed["events"]] == ["e-1"]
    assert listed["events"][0]["products"][0]["price"] == 153.0


def test_rest_v2_accepts_one_event(client: TestClient, site: tuple[str, str]) -> None:
    site_id, _ = site
    body = rest_body(site_id, "CategoryPage", {"CategoryPage": {"Category": {"categoryKey": "7"}}})
    response = client.post("/api/v2", json=body)
    assert response.status_code == 200, response.text
