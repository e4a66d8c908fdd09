"""One time format across /api/v1: ISO 8601 UTC with milliseconds and ``Z``, never epoch ms."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from tests.recommend.shop import Shop, item
from tests.recommend.shop import shop as shop

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# Integers in this range read as milliseconds since 1970 between 2001 and 5138.
EPOCH_MS = range(10**12, 10**14)


def _walk(value: Any, path: str, found: list[str]) -> None:
    """Every epoch-ms-like integer and every non-ISO ``…at`` value under ``value``."""
    if isinstance(value, dict):
        for key, child in value.items():
            if key == "payload":  # the event as the shop sent it, times included
                continue
            is_time = (key == "at" or key.endswith("_at")) and child is not None
            if is_time and not (isinstance(child, str) and ISO_MS.match(child)):
                found.append(f"{path}.{key}={child!r}")
            _walk(child, f"{path}.{key}", found)
    elif isinstance(value, list):
        for n, child in enumerate(value):
            _walk(child, f"{path}[{n}]", found)
    elif isinstance(value, int) and not isinstance(value, bool) and value in EPOCH_MS:
        found.append(f"{path}={value}")


def test_every_api_v1_answer_gives_times_as_iso_ms(shop: Shop) -> None:
    client, auth = shop.client, shop.auth
    shop.catalog(item("A"), item("B"))
    shop.views("visitor-1", "A", "B")
    block = shop.block("popular", title="Popular")
    bid = block["block_id"]
    client.patch(f"/api/v1/blocks/{bid}", json={"count": 3}, headers=auth)
    contact = client.post("/api/v1/contacts", json={"email": "anna@example.com"}, headers=auth)
    contact_id = contact.json()["contact"]["id"]
    client.post("/webevent", content=b"{broken", headers={"content-type": "text/plain"})
    feeds = client.get("/api/v1/feeds", headers=auth).json()
    feed_id = feeds["feeds"][0]["id"]

    answers = {
        path: client.get(path, headers=auth)
        for path in (
            "/api/v1/blocks",
            f"/api/v1/blocks/{bid}",
            f"/api/v1/blocks/{bid}/history",
            "/api/v1/feeds",
            f"/api/v1/feeds/{feed_id}/imports",
            "/api/v1/products",
            "/api/v1/products/A",
            "/api/v1/categories",
            "/api/v1/events",
            "/api/v1/rejected-events",
            f"/api/v1/contacts/{contact_id}",
            f"/api/v1/contacts/{contact_id}/export",
            f"/api/v1/contacts/{contact_id}/recommendations",
            "/api/v1/contacts?email=anna@example.com",
            "/api/v1/site/settings",
            "/api/v1/reports/blocks",
            "/api/v1/reports/triggers",
        )
    }
    found: list[str] = []
    for path, response in answers.items():
        assert response.status_code == 200, (path, response.text)
        _walk(response.json(), path, found)
    assert not found, "\n".join(found)

    # Block times are ISO and agree with the clock.
    shown = answers[f"/api/v1/blocks/{bid}"].json()
    created = datetime.fromisoformat(shown["created_at"].replace("Z", "+00:00"))
    assert abs((datetime.now(tz=UTC) - created).total_seconds()) < 120
    assert shown["updated_at"] >= shown["created_at"]
    assert [h["at"] for h in shown["history"]] == sorted(h["at"] for h in shown["history"])
    # Block ids are numbers in every answer.
    assert isinstance(shown["block_id"], int)


def test_events_since_takes_iso_times_and_epoch_ms(shop: Shop) -> None:
    shop.views("visitor-1", "A")
    client, auth = shop.client, shop.auth
    event = client.get("/api/v1/events", headers=auth).json()["events"][0]
    at = event["received_at"]
    moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    ms = int(moment.timestamp() * 1000)
    for since in (at, str(ms), moment.isoformat(), moment.astimezone().isoformat()):
        listed = client.get("/api/v1/events", params={"since": since}, headers=auth).json()
        assert [e["id"] for e in listed["events"]] == [event["id"]], since
    later = client.get("/api/v1/events", params={"since": str(ms + 60_000)}, headers=auth)
    assert later.json()["events"] == []
