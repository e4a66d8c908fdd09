"""``POST /api/v2``: the hosted platform's server-side format (platform-notes §1), over HTTP.

A shop's existing server integration must work by changing only its base URL.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from shoptrack.identity.crypto import PURPOSE_EVENT_IDENTITY
from shoptrack.store.tables import events, rejected_events
from tests.support.apps import DATABASES, module_app
from tests.support.payloads import now_ms, rest_body

Site = tuple[str, str]
GUID = "6F9619FF-8B86-D011-B42D-00CF4FC964FF"
UPDATE = {
    "ProductUpdate": [
        {
            "product_id": "430738",
            "unit_price": "201.95",
            "isInStock": 1,
            "name": "Kettle",
            "category": "Kitchen > Kettles",
            "price_currency_code": "UAH",
        }
    ]
}


def post(client: TestClient, body: Any, headers: dict[str, str] | None = None) -> Response:
    response: Response = client.post("/api/v2", content=orjson.dumps(body), headers=headers or {})
    return response


@pytest.fixture(scope="module", params=DATABASES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """One real app per database for the module: starting one per test would cost more than
    the tests. Each test isolates itself by the fresh site of the ``site`` fixture."""
    with module_app(request, tmp_path_factory, "rest") as client:
        yield client


@pytest.fixture
def client(server: TestClient) -> TestClient:
    return server


def rows(client: TestClient, site_id: str, table: Any = events) -> list[dict[str, Any]]:
    """The site's rows of the table, read from the database itself."""
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    stmt = select(table).where(table.c.site_id == site_id).order_by(table.c.seq)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def total(client: TestClient, table: Any = events) -> int:
    """Rows of the table for every site: for requests that name no site of their own."""
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def stored(client: TestClient, site_id: str) -> list[dict[str, Any]]:
    return [orjson.loads(r["data"]) for r in rows(client, site_id)]


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --- the format -----------------------------------------------------------------------------


def test_one_event_is_answered_200_and_stored(client: TestClient, site: Site) -> None:
    body = rest_body(
        site[0],
        "ProductPage",
        {"ProductPage": {"Product": {"productKey": "72354", "price": "754 USD"}}},
    )
    response = post(client, body)
    assert response.status_code == 200, response.text
    assert response.json()["ok"] is True
    [event] = stored(client, site[0])
    assert event["id"] == response.json()["id"]
    assert event["source"] == "rest"
    assert event["type"] == "ProductPage"
    assert event["visitor_id"] == "visitor-rest"
    assert event["products"][0]["key"] == "72354"
    assert event["products"][0]["currency"] == "USD"


def test_trailing_slash_and_text_plain_work_too(client: TestClient, site: Site) -> None:
    body = rest_body(site[0], "MainPage")
    response = client.post(
        "/api/v2/", content=orjson.dumps(body), headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 200, response.text


def test_datetime_is_when_it_happened(client: TestClient, site: Site) -> None:
    happened = now_ms() - 60_000
    post(client, rest_body(site[0], "MainPage", datetime=happened))
    assert rows(client, site[0])[0]["occurred_at"] == happened


def test_datetime_as_a_string_of_digits_is_read(client: TestClient, site: Site) -> None:
    happened = now_ms() - 60_000
    post(client, rest_body(site[0], "MainPage", datetime=str(happened)))
    assert rows(client, site[0])[0]["occurred_at"] == happened


def test_datetime_far_in_the_future_is_replaced_by_receive_time(
    client: TestClient, site: Site
) -> None:
    post(client, rest_body(site[0], "MainPage", datetime=now_ms() + 86_400_000))
    [row] = rows(client, site[0])
    assert row["occurred_at"] == row["received_at"]


def test_server_events_of_one_visitor_share_a_session(client: TestClient, site: Site) -> None:
    # No browser session id on this path: the server makes one from 30 minutes of quiet.
    start = now_ms() - 10 * 60_000
    post(client, rest_body(site[0], "MainPage", datetime=start))
    post(client, rest_body(site[0], "NotFound", datetime=start + 60_000))
    post(client, rest_body(site[0], "MainPage", datetime=start, cookies={"sc": "someone-else"}))
    first, second, other = rows(client, site[0])
    assert first["session_id"] == second["session_id"]
    assert other["session_id"] != first["session_id"]


def test_a_retried_request_is_stored_once(client: TestClient, site: Site) -> None:
    # Server integrations retry whole requests; same body, same datetime: the same event.
    body = rest_body(site[0], "CategoryPage", {"CategoryPage": {"Category": {"categoryKey": "7"}}})
    first, second = post(client, body), post(client, body)
    assert first.status_code == second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert len(rows(client, site[0])) == 1


def test_an_explicit_event_id_makes_retries_idempotent(client: TestClient, site: Site) -> None:
    post(client, rest_body(site[0], "MainPage", eventId="order-77-view"))
    post(client, rest_body(site[0], "MainPage", eventId="order-77-view", datetime=now_ms() + 5))
    assert [r["event_id"] for r in rows(client, site[0])] == ["order-77-view"]


def test_the_purchase_with_only_a_guid_takes_the_items_of_the_rest_cart(
    client: TestClient, site: Site
) -> None:
    cart = {
        "StatusCart": {
            "GUID": GUID,
            "Products": [
                {
                    "productKey": "430738",
                    "price": 201.95,
                    "quantity": 2,
                    "price_currency_code": "UAH",
                }
            ],
        }
    }
    post(client, rest_body(site[0], "StatusCart", cart))
    purchase = {"PurchasedItems": {"GUID": GUID, "OrderNumber": "123/2017"}}
    response = post(client, rest_body(site[0], "PurchasedItems", purchase))
    assert response.status_code == 200, response.text
    order = stored(client, site[0])[-1]
    assert order["order_number"] == "123/2017"
    assert [(p["key"], p["quantity"], p["currency"]) for p in order["products"]] == [
        ("430738", 2, "UAH")
    ]


# --- envelope errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ProductPage": {}}, "GeneralInfo"),
        ({"GeneralInfo": "x"}, "GeneralInfo"),
        ({"GeneralInfo": {"siteId": "s"}}, "GeneralInfo.eventName"),
        ({"GeneralInfo": {"eventName": "MainPage"}}, "GeneralInfo.siteId"),
        ({"GeneralInfo": {"eventName": "MainPage", "siteId": "a b"}}, "GeneralInfo.siteId"),
        ({"GeneralInfo": {"eventName": "MainPage", "siteId": "a\x00"}}, "GeneralInfo.siteId"),
    ],
)
def test_envelope_errors_name_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    response = post(client, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field


def test_unknown_site_is_refused(client: TestClient) -> None:
    before = total(client)
    response = post(client, rest_body("no-such-site", "MainPage"))
    assert response.status_code in (400, 404)
    assert response.json()["error"] == {
        "code": "unknown_site",
        "message": "site 'no-such-site' does not exist",
        "field": "GeneralInfo.siteId",
    }
    assert total(client) == before


def test_unknown_event_name_is_refused(client: TestClient, site: Site) -> None:
    response = post(client, rest_body(site[0], "ProductSeen"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_event"
    assert response.json()["error"]["field"] == "GeneralInfo.eventName"


def test_invalid_event_is_400_naming_the_field_and_kept_as_rejected(
    client: TestClient, site: Site
) -> None:
    body = rest_body(site[0], "StatusCart", {"StatusCart": {"Products": []}})
    response = post(client, body)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "StatusCart.GUID"
    listed = client.get("/api/v1/rejected-events", headers=bearer(site[1])).json()["rejected"]
    assert [(e["endpoint"], e["error"]["field"], e["body"]) for e in listed] == [
        ("api/v2", "StatusCart.GUID", body)
    ]


@pytest.mark.parametrize("body", [b"", b"{", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_bodies_that_are_not_a_json_object_are_400(client: TestClient, body: bytes) -> None:
    before = total(client, rejected_events)
    response = client.post("/api/v2", content=body)
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "field"}
    assert total(client, rejected_events) == before + 1


# --- ProductUpdate needs the API key --------------------------------------------------------


def test_anonymous_product_update_is_401_and_not_stored(client: TestClient, site: Site) -> None:
    response = post(client, rest_body(site[0], "ProductUpdate", UPDATE))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert rows(client, site[0]) == []


@pytest.mark.parametrize(
    "auth",
    ["basic-empty-user", "basic-key-as-user", "bearer"],
)
def test_product_update_with_the_api_key_is_stored(
    client: TestClient, site: Site, auth: str
) -> None:
    site_id, key = site
    headers = {
        "basic-empty-user": basic("", key),  # what real plugins send: Basic :<key>
        "basic-key-as-user": basic(key, ""),
        "bearer": bearer(key),
    }[auth]
    response = post(client, rest_body(site_id, "ProductUpdate", UPDATE), headers)
    assert response.status_code == 200, response.text
    [event] = stored(client, site[0])
    assert event["type"] == "ProductUpdate"
    assert event["products"][0]["key"] == "430738"
    assert event["products"][0]["in_stock"] is True


def test_product_update_with_a_key_and_no_site_id_uses_the_key_site(
    client: TestClient, site: Site
) -> None:
    site_id, key = site
    body = rest_body(site_id, "ProductUpdate", UPDATE)
    del body["GeneralInfo"]["siteId"]
    assert post(client, body, bearer(key)).status_code == 200
    assert rows(client, site[0])[0]["site_id"] == site_id


def test_a_wrong_api_key_is_401_even_for_an_open_event(client: TestClient, site: Site) -> None:
    response = post(client, rest_body(site[0], "MainPage"), bearer("stk_not-a-key"))
    assert response.status_code == 401
    assert rows(client, site[0]) == []


def test_a_key_for_another_site_than_site_id_is_403(client: TestClient, site: Site) -> None:
    repo = client.app.state.services.site_repo  # type: ignore[attr-defined]
    other, _ = repo.create("Other shop")
    response = post(client, rest_body(other.site_id, "ProductUpdate", UPDATE), bearer(site[1]))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert rows(client, site[0]) == rows(client, other.site_id) == []


def test_a_non_ascii_basic_header_is_401_not_a_server_error(client: TestClient, site: Site) -> None:
    response = client.post(
        "/api/v2",
        content=orjson.dumps(rest_body(site[0], "ProductUpdate", UPDATE)),
        headers={"Authorization": b"Basic \xc3\xa9t\xc3\xa9"},
    )
    assert response.status_code == 401


# --- personal data --------------------------------------------------------------------------


def test_general_info_identity_is_encrypted_not_stored_in_plaintext(
    client: TestClient, site: Site
) -> None:
    body = rest_body(
        site[0],
        "CustomerData",
        user_email="taras@example.com",
        user_phone="380671112233",
        user_name="Taras",
        externalCustomerId="crm-5",
    )
    response = post(client, body)
    assert response.status_code == 200, response.text
    [row] = rows(client, site[0])
    for column, value in row.items():
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        for secret in ("taras@example.com", "380671112233", "Taras", "crm-5"):
            assert secret not in text, column
    ring = client.app.state.services.keyring  # type: ignore[attr-defined]
    identity = ring.decrypt_json(row["identity_enc"], PURPOSE_EVENT_IDENTITY)
    assert identity["user_email"] == "taras@example.com"
    assert identity["user_name"] == "Taras"


def test_customer_data_without_any_identifier_is_refused(client: TestClient, site: Site) -> None:
    response = post(client, rest_body(site[0], "CustomerData"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "missing_field"
