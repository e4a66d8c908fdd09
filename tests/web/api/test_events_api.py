"""``/api/v1/events`` (read and batch import), ``/api/v1/rejected-events`` and ``/healthz``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from shoptrack.events.model import iso_ms
from tests.support.apps import DATABASES, module_app
from tests.support.payloads import now_ms, rest_body

Site = tuple[str, str]
HOUR = 3_600_000


@pytest.fixture(scope="module", params=DATABASES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """One real app per database for the module: starting one per test would cost more than
    the tests. Each test works on the fresh site of the ``site`` fixture, and every read goes
    through that site's key, so tests cannot see each other's events."""
    with module_app(request, tmp_path_factory, "events-api") as client:
        yield client


@pytest.fixture
def client(server: TestClient) -> TestClient:
    return server


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def import_events(client: TestClient, key: str, items: list[Any]) -> Response:
    response: Response = client.post("/api/v1/events", json={"events": items}, headers=bearer(key))
    return response


def event(site_id: str, name: str, event_id: str, **general: Any) -> dict[str, Any]:
    sections: dict[str, dict[str, Any]] = {
        "ProductPage": {"ProductPage": {"Product": {"productKey": "24-MB02"}}},
        "CategoryPage": {"CategoryPage": {"Category": {"categoryKey": "Shoes"}}},
        "ProductImpressions": {
            "ProductImpression": {"Products": [{"product_id": "1", "container_type": "9_r1v1"}]}
        },
    }
    return rest_body(site_id, name, sections.get(name), eventId=event_id, **general)


def listed(client: TestClient, key: str, **params: Any) -> list[str]:
    response = client.get("/api/v1/events", params=params, headers=bearer(key))
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json()["events"]]


def seed(client: TestClient, site: Site, count: int) -> list[str]:
    """``count`` MainPage events, one request each, so their order is the arrival order."""
    ids = [f"e{i}" for i in range(1, count + 1)]
    for event_id in ids:
        assert (
            import_events(client, site[1], [event(site[0], "MainPage", event_id)]).status_code
            == 200
        )
    return ids


# --- reading --------------------------------------------------------------------------------


def test_events_are_listed_newest_first_in_canonical_form(client: TestClient, site: Site) -> None:
    seed(client, site, 3)
    response = client.get("/api/v1/events", headers=bearer(site[1]))
    body = response.json()
    assert [e["id"] for e in body["events"]] == ["e3", "e2", "e1"]
    first = body["events"][0]
    for name in (
        "id", "site_id", "type", "occurred_at", "received_at", "visitor_id", "session_id",
        "contact_id", "source", "page", "location", "products", "cart_guid", "order_number",
        "category_key", "search", "tags",
    ):  # fmt: skip
        assert name in first, name
    assert first["site_id"] == site[0]
    assert body["next_before"] is None


def test_filter_by_type(client: TestClient, site: Site) -> None:
    items = [
        event(site[0], "ProductPage", "p1"),
        event(site[0], "CategoryPage", "c1"),
        event(site[0], "ProductImpressions", "i1"),
        event(site[0], "ProductPage", "p2"),
    ]
    import_events(client, site[1], items)
    assert listed(client, site[1], type="ProductPage") == ["p2", "p1"]
    assert listed(client, site[1], type="CategoryPage") == ["c1"]
    # The spec's other spelling names the same type.
    assert listed(client, site[1], type="ProductImpressions") == ["i1"]


def test_filter_by_visitor(client: TestClient, site: Site) -> None:
    items = [
        event(site[0], "MainPage", "a1", cookies={"sc": "visitor-a"}),
        event(site[0], "MainPage", "b1", cookies={"sc": "visitor-b"}),
        event(site[0], "MainPage", "a2", cookies={"sc": "visitor-a"}),
    ]
    import_events(client, site[1], items)
    assert listed(client, site[1], visitor_id="visitor-a") == ["a2", "a1"]
    assert listed(client, site[1], visitor_id="nobody") == []


def test_filter_since_as_epoch_ms_and_as_iso_time(client: TestClient, site: Site) -> None:
    now = now_ms()
    items = [
        event(site[0], "MainPage", "old", datetime=now - 48 * HOUR),
        event(site[0], "MainPage", "recent", datetime=now - 1 * HOUR),
    ]
    import_events(client, site[1], items)
    cutoff = now - 24 * HOUR
    assert listed(client, site[1], since=str(cutoff)) == ["recent"]
    assert listed(client, site[1], since=iso_ms(cutoff)) == ["recent"]
    assert listed(client, site[1], since=iso_ms(now - 72 * HOUR)) == ["recent", "old"]


def test_empty_filters_are_no_filters(client: TestClient, site: Site) -> None:
    # What a filter form sends when its fields are left blank.
    seed(client, site, 2)
    response = client.get("/api/v1/events?type=&visitor_id=&since=", headers=bearer(site[1]))
    assert response.status_code == 200, response.text
    assert [e["id"] for e in response.json()["events"]] == ["e2", "e1"]


def test_limit_and_the_next_before_cursor_page_through_everything(
    client: TestClient, site: Site
) -> None:
    seed(client, site, 5)
    pages: list[list[str]] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        body = client.get("/api/v1/events", params=params, headers=bearer(site[1])).json()
        pages.append([e["id"] for e in body["events"]])
        if body["next_before"] is None:
            break
        params["before"] = body["next_before"]
    # A short page is the last: its next_before is null.
    assert pages == [["e5", "e4"], ["e3", "e2"], ["e1"]]


def test_a_site_never_sees_another_sites_events(client: TestClient, site: Site) -> None:
    repo = client.app.state.services.site_repo  # type: ignore[attr-defined]
    other, other_key = repo.create("Other shop")
    import_events(client, site[1], [event(site[0], "MainPage", "mine")])
    import_events(client, other_key, [event(other.site_id, "MainPage", "theirs")])
    assert listed(client, site[1]) == ["mine"]
    assert listed(client, other_key) == ["theirs"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"type": "ProductSeen"}, "type"),
        ({"since": "yesterday"}, "since"),
        ({"since": "99999999999999999999999"}, "since"),
        ({"since": "²³"}, "since"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"before": -1}, "before"),
        ({"before": "99999999999999999999999"}, "before"),
        ({"visitor_id": "v\x00"}, "visitor_id"),
    ],
)
def test_bad_query_parameters_are_400_naming_the_parameter(
    client: TestClient, site: Site, params: dict[str, Any], field: str
) -> None:
    response = client.get("/api/v1/events", params=params, headers=bearer(site[1]))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_value"
    assert error["field"] == field


# --- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer "}, {"Authorization": "Token abc"}, bearer("stk_wrong")],
    ids=["none", "empty-bearer", "other-scheme", "wrong-key"],
)
def test_reading_needs_a_valid_key_and_says_so_in_the_error_format(
    client: TestClient, site: Site, headers: dict[str, str]
) -> None:
    response = client.get("/api/v1/events", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["code"] == "unauthorized"
    assert body["error"]["field"] == "Authorization"
    assert "key" in body["error"]["message"]


def test_a_non_ascii_authorization_header_is_401_not_a_server_error(
    client: TestClient, site: Site
) -> None:
    response = client.get(
        "/api/v1/events",
        headers={"Authorization": b"Basic \xc3\xa9t\xc3\xa9"},
    )
    assert response.status_code == 401


def test_import_needs_a_key(client: TestClient, site: Site) -> None:
    response = client.post("/api/v1/events", json={"events": [event(site[0], "MainPage", "x")]})
    assert response.status_code == 401
    assert listed(client, site[1]) == []


def test_rejected_events_need_a_key(client: TestClient) -> None:
    assert client.get("/api/v1/rejected-events").status_code == 401


# --- batch import ---------------------------------------------------------------------------


def test_import_up_to_the_limit_of_1000_events(client: TestClient, site: Site) -> None:
    items = [event(site[0], "MainPage", f"bulk-{i}") for i in range(1000)]
    response = import_events(client, site[1], items)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1000
    assert response.json()["rejected"] == []
    assert len(listed(client, site[1], limit=1000)) == 1000


def test_import_over_the_limit_is_413_and_stores_nothing(client: TestClient, site: Site) -> None:
    items = [event(site[0], "MainPage", f"bulk-{i}") for i in range(1001)]
    response = import_events(client, site[1], items)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_many_events"
    assert "1000" in response.json()["error"]["message"]
    assert listed(client, site[1]) == []


def test_import_answers_for_each_item(client: TestClient, site: Site) -> None:
    repo = client.app.state.services.site_repo  # type: ignore[attr-defined]
    other, _ = repo.create("Other shop")
    items: list[Any] = [
        event(site[0], "ProductPage", "good-1"),
        {"no": "GeneralInfo"},
        event(site[0], "CategoryPage", "bad-category") | {"CategoryPage": {}},
        event(other.site_id, "MainPage", "other-site"),
        event(site[0], "MainPage", "good-2"),
    ]
    response = import_events(client, site[1], items)
    assert response.status_code == 200
    answer = response.json()
    assert answer["accepted"] == 2
    assert answer["ids"] == ["good-1", "good-2"]
    assert [(r["index"], r["error"]["code"]) for r in answer["rejected"]] == [
        (1, "missing_field"),
        (2, "missing_field"),
        (3, "forbidden"),
    ]
    assert answer["rejected"][1]["error"]["field"] == "CategoryPage.categoryKey"
    assert listed(client, site[1]) == ["good-2", "good-1"]


def test_import_of_only_bad_items_is_400(client: TestClient, site: Site) -> None:
    response = import_events(client, site[1], [{"no": "GeneralInfo"}])
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "GeneralInfo"


def test_import_may_carry_product_updates(client: TestClient, site: Site) -> None:
    update = rest_body(
        site[0],
        "ProductUpdate",
        {"ProductUpdate": [{"product_id": "1", "unit_price": "5", "isInStock": 0}]},
    )
    assert import_events(client, site[1], [update]).json()["accepted"] == 1
    assert listed(client, site[1], type="ProductUpdate") != []


def test_import_items_without_site_id_belong_to_the_key_site(
    client: TestClient, site: Site
) -> None:
    item = event(site[0], "MainPage", "no-site")
    del item["GeneralInfo"]["siteId"]
    assert import_events(client, site[1], [item]).json()["accepted"] == 1


@pytest.mark.parametrize(
    "body", [b"[]", b'{"events": "x"}', b"{}", b"not json"], ids=["list", "str", "none", "junk"]
)
def test_import_body_must_be_an_object_with_a_list(
    client: TestClient, site: Site, body: bytes
) -> None:
    response = client.post("/api/v1/events", content=body, headers=bearer(site[1]))
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "field"}


def test_rejected_items_are_listed_to_the_site_of_the_key(client: TestClient, site: Site) -> None:
    # The first item is refused before any event was read: it must still reach this site.
    import_events(client, site[1], [{"no": "GeneralInfo"}, event(site[0], "MainPage", "ok")])
    rejected = client.get("/api/v1/rejected-events", headers=bearer(site[1])).json()["rejected"]
    assert [(r["endpoint"], r["error"]["field"], r["body"]) for r in rejected] == [
        ("api/v1/events", "GeneralInfo", {"no": "GeneralInfo"})
    ]


def test_rejected_events_are_paged_newest_first(client: TestClient, site: Site) -> None:
    for i in range(3):
        import_events(client, site[1], [{"bad": i}])
    first = client.get(
        "/api/v1/rejected-events", params={"limit": 2}, headers=bearer(site[1])
    ).json()
    assert [r["body"] for r in first["rejected"]] == [{"bad": 2}, {"bad": 1}]
    rest = client.get(
        "/api/v1/rejected-events",
        params={"limit": 2, "before": first["next_before"]},
        headers=bearer(site[1]),
    ).json()
    assert [r["body"] for r in rest["rejected"]] == [{"bad": 0}]


def test_a_site_never_sees_another_sites_rejections(client: TestClient, site: Site) -> None:
    repo = client.app.state.services.site_repo  # type: ignore[attr-defined]
    _, other_key = repo.create("Other shop")
    import_events(client, other_key, [{"bad": "theirs"}])
    rejected = client.get("/api/v1/rejected-events", headers=bearer(site[1])).json()["rejected"]
    assert rejected == []


# --- health ---------------------------------------------------------------------------------


def test_healthz_answers_when_the_store_is_reachable(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_nul_in_any_api_path_or_query_value_is_a_400(client: TestClient, site: Site) -> None:
    _, key = site
    for path in (
        "/api/v1/contacts/a%00b",
        "/api/v1/products?q=a%00b",
        "/api/v1/products?category=a%00b",
        "/api/v1/events?type=PageView&before=1&visitor_id=a%00b",
    ):
        response = client.get(path, headers=bearer(key))
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"]["code"] == "invalid_value"
