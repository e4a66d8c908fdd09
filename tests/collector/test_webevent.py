"""``POST /webevent`` over HTTP, on SQLite and PostgreSQL: what the browser tracker relies on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from shoptrack.identity.crypto import PURPOSE_EVENT_IDENTITY, PURPOSE_REJECTED_BODY, Keyring
from shoptrack.store.tables import events, rejected_events
from tests.support.apps import DATABASES, module_app
from tests.support.payloads import browser_event, now_ms, webevent_body

Site = tuple[str, str]
CART = {
    "StatusCart": [
        {"productKey": "24-MB02", "price": "153", "quantity": "1", "currency": "USD"},
        {"productKey": "123-321", "price": "450.00", "quantity": "3", "currency": "USD"},
    ],
    "GUID": "2b914e9c-43ee-bf41-6f80-b97db1e8ab7e",
}
PRODUCT = {"ProductPage": {"productKey": "24-MB02", "price": "153", "isInStock": 1}}


@pytest.fixture(scope="module", params=DATABASES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """One real app per database for the module: starting one per test would cost more than
    the tests. Each test isolates itself by the fresh site of the ``site`` fixture."""
    with module_app(request, tmp_path_factory, "webevent") as client:
        yield client


@pytest.fixture
def client(server: TestClient) -> TestClient:
    return server


def total(client: TestClient, table: Any = events) -> int:
    """Rows of the table for every site: for requests that name no site of their own."""
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def post(client: TestClient, body: Any, content_type: str | None = "text/plain") -> Response:
    headers = {"Content-Type": content_type} if content_type else {}
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    response: Response = client.post("/webevent", content=content, headers=headers)
    return response


def rows(client: TestClient, site_id: str, table: Any = events) -> list[dict[str, Any]]:
    """The site's rows of the table, read from the database itself (not through our API)."""
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    stmt = select(table).where(table.c.site_id == site_id).order_by(table.c.seq)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def stored(client: TestClient, site_id: str) -> dict[str, dict[str, Any]]:
    """Canonical JSON of each stored event of the site, by event id."""
    return {r["event_id"]: orjson.loads(r["data"]) for r in rows(client, site_id)}


def keyring(client: TestClient) -> Keyring:
    ring: Keyring = client.app.state.services.keyring  # type: ignore[attr-defined]
    return ring


def assert_cors(response: Response) -> None:
    assert response.headers["access-control-allow-origin"] == "*"


# --- transport ------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain;charset=UTF-8", None])
def test_bodies_are_accepted_whatever_the_content_type(
    client: TestClient, site: Site, content_type: str | None
) -> None:
    # text/plain is what lets a browser post without a CORS preflight.
    response = post(client, webevent_body(site[0], browser_event("MainPage")), content_type)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1


def test_cors_allows_any_origin_on_success(client: TestClient, site: Site) -> None:
    response = client.post(
        "/webevent",
        content=orjson.dumps(webevent_body(site[0], browser_event("MainPage"))),
        headers={"Content-Type": "text/plain", "Origin": "https://shop.example"},
    )
    assert response.status_code == 200
    assert_cors(response)


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"[]", b'{"events": []}'],
    ids=["bad-json", "empty", "not-object", "no-site"],
)
def test_cors_headers_are_sent_on_errors_too(client: TestClient, body: bytes) -> None:
    # Without them the browser hides the error from the tracker.
    response = post(client, body)
    assert response.status_code == 400
    assert_cors(response)
    assert set(response.json()["error"]) == {"code", "message", "field"}


def test_stored_event_has_the_canonical_fields(client: TestClient, site: Site) -> None:
    body = webevent_body(
        site[0],
        browser_event("StatusCart", CART, event_id="cart-1"),
        visitor_id="visitor-7",
        session_id="session-7",
    )
    assert post(client, body).status_code == 200
    event = stored(client, site[0])["cart-1"]
    assert event["site_id"] == site[0]
    assert event["type"] == "StatusCart"
    assert event["source"] == "browser"
    assert event["visitor_id"] == "visitor-7"
    assert event["session_id"] == "session-7"
    assert event["cart_guid"] == CART["GUID"]
    assert [p["key"] for p in event["products"]] == ["24-MB02", "123-321"]
    assert event["page"] == {"url": "https://shop.example/", "referrer": None, "title": "Shop"}
    assert rows(client, site[0])[0]["cart_guid"] == CART["GUID"]


def test_batch_with_bad_events_stores_the_good_ones_and_says_which_failed(
    client: TestClient, site: Site
) -> None:
    body = webevent_body(
        site[0],
        browser_event("ProductPage", PRODUCT, event_id="good-1"),
        browser_event("ProductPage", {"ProductPage": {"price": "1"}}, event_id="bad-1"),
        browser_event("MainPage", event_id="good-2"),
        browser_event("NoSuchEvent", {}, event_id="bad-2"),
    )
    response = post(client, body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["accepted"] == 2
    assert answer["ids"] == ["good-1", "good-2"]
    assert [(r["index"], r["id"]) for r in answer["rejected"]] == [(1, "bad-1"), (3, "bad-2")]
    assert answer["rejected"][0]["error"]["field"] == "ProductPage.productKey"
    assert answer["rejected"][1]["error"]["code"] == "unknown_event"
    assert set(stored(client, site[0])) == {"good-1", "good-2"}


def test_batch_with_only_bad_events_is_a_400_naming_the_first_field(
    client: TestClient, site: Site
) -> None:
    body = webevent_body(
        site[0],
        browser_event("CategoryPage", {"CategoryPage": {}}, event_id="bad-1"),
        browser_event("SearchRequest", {"SearchRequest": {}}, event_id="bad-2"),
    )
    response = post(client, body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["accepted"] == 0
    assert answer["error"]["field"] == "CategoryPage.categoryKey"
    assert [r["error"]["field"] for r in answer["rejected"]] == [
        "CategoryPage.categoryKey",
        "SearchRequest.search",
    ]
    assert_cors(response)
    assert rows(client, site[0]) == []


def test_empty_batch_is_fine(client: TestClient, site: Site) -> None:
    response = post(client, webevent_body(site[0]))
    assert response.status_code == 200
    assert response.json()["accepted"] == 0


def test_unknown_site_is_refused_and_nothing_stored(client: TestClient) -> None:
    before = total(client)
    response = post(client, webevent_body("no-such-site", browser_event("MainPage")))
    assert response.status_code in (400, 404)
    assert response.json()["error"]["code"] == "unknown_site"
    assert response.json()["error"]["field"] == "site_id"
    assert_cors(response)
    assert total(client) == before


@pytest.mark.parametrize("site_id", ["a\x00b", "bad site id", "x" * 65, 42.5, ["s"]])
def test_impossible_site_ids_are_a_400_not_a_server_error(client: TestClient, site_id: Any) -> None:
    response = post(
        client, webevent_body("placeholder", browser_event("MainPage")) | {"site_id": site_id}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == "site_id"


# --- idempotency ----------------------------------------------------------------------------


def test_the_same_event_id_sent_twice_is_stored_once(client: TestClient, site: Site) -> None:
    body = webevent_body(site[0], browser_event("ProductPage", PRODUCT, event_id="retry-1"))
    first, second = post(client, body), post(client, body)
    assert first.status_code == second.status_code == 200
    assert first.json()["ids"] == second.json()["ids"] == ["retry-1"]
    assert [r["event_id"] for r in rows(client, site[0])] == ["retry-1"]


def test_the_same_event_id_twice_in_one_batch_is_stored_once(
    client: TestClient, site: Site
) -> None:
    event = browser_event("MainPage", event_id="dup-1")
    response = post(client, webevent_body(site[0], event, dict(event)))
    assert response.status_code == 200
    assert [r["event_id"] for r in rows(client, site[0])] == ["dup-1"]


def test_the_same_event_id_on_two_sites_is_two_events(client: TestClient, site: Site) -> None:
    repo = client.app.state.services.site_repo  # type: ignore[attr-defined]
    other, _ = repo.create("Other shop")
    post(client, webevent_body(site[0], browser_event("MainPage", event_id="same")))
    post(client, webevent_body(other.site_id, browser_event("MainPage", event_id="same")))
    assert [r["event_id"] for r in rows(client, site[0])] == ["same"]
    assert [r["event_id"] for r in rows(client, other.site_id)] == ["same"]


# --- purchases that name their cart ---------------------------------------------------------

PURCHASE_BY_GUID = {"PurchasedItems": {"GUID": CART["GUID"], "OrderNumber": "123/2017"}}


def test_purchase_with_only_a_guid_takes_the_items_of_the_cart_in_the_same_batch(
    client: TestClient, site: Site
) -> None:
    body = webevent_body(
        site[0],
        browser_event("StatusCart", CART, event_id="cart"),
        browser_event(
            "PurchasedItems", PURCHASE_BY_GUID, style="sendEventWithTags", event_id="order"
        ),
    )
    assert post(client, body).json()["accepted"] == 2
    saved = stored(client, site[0])
    assert saved["order"]["products"] == saved["cart"]["products"]
    assert [p["key"] for p in saved["order"]["products"]] == ["24-MB02", "123-321"]
    assert saved["order"]["order_number"] == "123/2017"


def test_purchase_with_only_a_guid_takes_the_items_of_a_cart_sent_earlier(
    client: TestClient, site: Site
) -> None:
    post(client, webevent_body(site[0], browser_event("StatusCart", CART, event_id="cart")))
    response = post(
        client,
        webevent_body(site[0], browser_event("PurchasedItems", PURCHASE_BY_GUID, event_id="o")),
    )
    assert response.json()["accepted"] == 1
    order = stored(client, site[0])["o"]
    assert [(p["key"], p["quantity"], p["price"]) for p in order["products"]] == [
        ("24-MB02", 1, 153.0),
        ("123-321", 3, 450.0),
    ]


def test_purchase_takes_the_latest_cart_with_its_guid(client: TestClient, site: Site) -> None:
    smaller = {"StatusCart": [CART["StatusCart"][0]], "GUID": CART["GUID"]}
    post(client, webevent_body(site[0], browser_event("StatusCart", CART)))
    post(client, webevent_body(site[0], browser_event("StatusCart", smaller)))
    post(
        client,
        webevent_body(site[0], browser_event("PurchasedItems", PURCHASE_BY_GUID, event_id="o")),
    )
    assert [p["key"] for p in stored(client, site[0])["o"]["products"]] == ["24-MB02"]


def test_purchase_naming_an_unknown_cart_is_rejected(client: TestClient, site: Site) -> None:
    response = post(
        client, webevent_body(site[0], browser_event("PurchasedItems", PURCHASE_BY_GUID))
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "PurchasedItems"
    assert rows(client, site[0]) == []


def test_purchase_never_takes_the_cart_of_another_site(client: TestClient, site: Site) -> None:
    repo = client.app.state.services.site_repo  # type: ignore[attr-defined]
    other, _ = repo.create("Other shop")
    post(client, webevent_body(other.site_id, browser_event("StatusCart", CART)))
    response = post(
        client, webevent_body(site[0], browser_event("PurchasedItems", PURCHASE_BY_GUID))
    )
    assert response.status_code == 400


# --- personal data --------------------------------------------------------------------------

EMAIL = "olena.k@example.com"
PHONE = "380501234567"
GENERAL = {"user_email": EMAIL, "user_phone": PHONE, "externalCustomerId": "ext-991"}


def test_no_plaintext_email_or_phone_anywhere_in_the_events_table(
    client: TestClient, site: Site
) -> None:
    body = webevent_body(
        site[0],
        browser_event(
            "ProductPage",
            {"GeneralInfo": dict(GENERAL), "ProductPage": {"productKey": "24-WG02"}},
            event_id="with-general-info",
        ),
        browser_event(
            "CustomerData",
            {"CustomerData": {**GENERAL, "user_name": "Olena", "user_city": "Lviv"}},
            event_id="customer",
        ),
        browser_event(
            "MainPage",
            event_id="remembered",
            page={"url": "https://shop.example/confirm?e=olena.k%40example.com&step=2"},
        ),
        general={"user_email": EMAIL, "user_phone": PHONE},
        page={"url": f"https://shop.example/account?email={EMAIL}", "title": f"{EMAIL} – Account"},
    )
    assert post(client, body).json()["accepted"] == 3
    for row in rows(client, site[0]):
        for column, value in row.items():
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            assert EMAIL not in str(value), column
            assert "olena.k%40example.com" not in str(value), column
            assert PHONE not in str(value), column
            assert "ext-991" not in str(value), column


def test_identity_is_kept_encrypted_in_identity_enc(client: TestClient, site: Site) -> None:
    body = webevent_body(
        site[0],
        browser_event(
            "ProductPage",
            {"GeneralInfo": dict(GENERAL), "ProductPage": {"productKey": "1"}},
            event_id="p",
        ),
        browser_event("MainPage", event_id="anonymous"),
    )
    post(client, body)
    by_id = {r["event_id"]: r for r in rows(client, site[0])}
    assert by_id["anonymous"]["identity_enc"] is None
    identity = keyring(client).decrypt_json(by_id["p"]["identity_enc"], PURPOSE_EVENT_IDENTITY)
    assert identity == GENERAL


# --- rejected bodies ------------------------------------------------------------------------


def test_rejected_events_are_stored_encrypted_and_listed_with_reasons(
    client: TestClient, site: Site
) -> None:
    site_id, key = site
    bad = browser_event(
        "ProductPage",
        {"GeneralInfo": {"user_email": EMAIL}, "ProductPage": {"price": "1"}},
        event_id="bad-1",
    )
    post(client, webevent_body(site_id, bad, browser_event("MainPage")))
    stored_rejections = rows(client, site[0], rejected_events)
    assert len(stored_rejections) == 1
    body_enc = stored_rejections[0]["body_enc"]
    assert EMAIL.encode() not in body_enc
    assert orjson.loads(keyring(client).decrypt(body_enc, PURPOSE_REJECTED_BODY)) == bad

    listed = client.get("/api/v1/rejected-events", headers={"Authorization": f"Bearer {key}"})
    assert listed.status_code == 200
    [entry] = listed.json()["rejected"]
    assert entry["event_id"] == "bad-1"
    assert entry["endpoint"] == "webevent"
    assert entry["source"] == "browser"
    assert entry["error"]["code"] == "missing_field"
    assert entry["error"]["field"] == "ProductPage.productKey"
    assert entry["body"] == bad


@pytest.mark.parametrize(
    "bad_item",
    [
        ["not", "an", "object"],
        {"id": "x", "style": "sendEventLater", "name": "MainPage"},
        # Unhashable: once a TypeError and a 500 for the whole batch.
        {"id": "x", "style": [], "name": "MainPage"},
        {"id": "x", "style": {"a": 1}, "name": "MainPage"},
    ],
    ids=["not-an-object", "bad-style", "list-style", "object-style"],
)
def test_a_malformed_first_event_is_listed_to_its_site(
    client: TestClient, site: Site, bad_item: Any
) -> None:
    # The rejection must carry the batch's site even when nothing before it was accepted.
    site_id, key = site
    response = post(client, webevent_body(site_id, bad_item, browser_event("MainPage")))
    assert response.status_code == 200
    assert response.json()["rejected"][0]["index"] == 0
    listed = client.get("/api/v1/rejected-events", headers={"Authorization": f"Bearer {key}"})
    assert [e["body"] for e in listed.json()["rejected"]] == [bad_item]


def test_a_refused_request_body_is_kept_with_its_reason(client: TestClient, site: Site) -> None:
    site_id, key = site
    body = webevent_body(site_id, browser_event("MainPage"), page="not an object")
    response = post(client, body)
    assert response.status_code == 400
    listed = client.get("/api/v1/rejected-events", headers={"Authorization": f"Bearer {key}"})
    [entry] = listed.json()["rejected"]
    assert entry["error"]["field"] == "page"
    assert entry["body"] == body


# --- enrichment -----------------------------------------------------------------------------


def test_sc_content_of_the_page_url_becomes_the_location(client: TestClient, site: Site) -> None:
    body = webevent_body(
        site[0],
        browser_event("ProductPage", PRODUCT, event_id="from-block"),
        browser_event("MainPage", event_id="plain", page={"url": "https://shop.example/"}),
        page={"url": "https://shop.example/p/24-MB02?sc_content=19534_r24v435", "title": "P"},
    )
    post(client, body)
    saved = stored(client, site[0])
    assert saved["from-block"]["location"] == "19534_r24v435"
    assert saved["plain"]["location"] is None


def test_s_location_of_the_general_info_beside_the_event_becomes_the_location(
    client: TestClient, site: Site
) -> None:
    # A "buy" button inside a block sends an extra ProductPage with s_location in GeneralInfo.
    body = webevent_body(
        site[0],
        browser_event("ProductPage", PRODUCT, event_id="buy", general={"s_location": "7_r1v2"}),
    )
    post(client, body)
    assert stored(client, site[0])["buy"]["location"] == "7_r1v2"


def test_a_malformed_page_url_is_not_a_server_error(client: TestClient, site: Site) -> None:
    body = webevent_body(
        site[0],
        browser_event("MainPage", event_id="m"),
        page={"url": "http://[broken?sc_content=1_r1v1"},
    )
    response = post(client, body)
    assert response.status_code == 200, response.text


def test_client_time_far_in_the_future_is_replaced_by_receive_time(
    client: TestClient, site: Site
) -> None:
    future = now_ms() + 30 * 86_400_000
    body = webevent_body(site[0], browser_event("MainPage", event_id="f", time=future))
    body.pop("sent_at")
    before = now_ms()
    post(client, body)
    row = rows(client, site[0])[0]
    assert before <= row["occurred_at"] <= now_ms()
    assert row["occurred_at"] == row["received_at"]
    # The client's own value is kept beside it.
    assert stored(client, site[0])["f"]["client_time"] is not None


def test_a_wrong_browser_clock_is_corrected_by_sent_at(client: TestClient, site: Site) -> None:
    # The browser's clock is an hour behind; the event happened 5 s before the batch was sent.
    skew = 3_600_000
    sent_at = now_ms() - skew
    body = webevent_body(
        site[0], browser_event("MainPage", event_id="e", time=sent_at - 5000), sent_at=sent_at
    )
    post(client, body)
    row = rows(client, site[0])[0]
    assert row["received_at"] - 5000 - 2000 <= row["occurred_at"] <= row["received_at"] - 5000


def test_event_time_older_than_the_trusted_age_is_replaced(client: TestClient, site: Site) -> None:
    ancient = now_ms() - 60 * 86_400_000
    body = webevent_body(site[0], browser_event("MainPage", time=ancient), sent_at=None)
    post(client, body)
    row = rows(client, site[0])[0]
    assert row["occurred_at"] == row["received_at"]


def test_user_agent_is_parsed_with_a_bot_flag(client: TestClient, site: Site) -> None:
    chrome = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
    )
    body = webevent_body(site[0], browser_event("MainPage", event_id="human"))
    client.post("/webevent", content=orjson.dumps(body), headers={"User-Agent": chrome})
    body = webevent_body(site[0], browser_event("MainPage", event_id="bot"))
    googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    client.post("/webevent", content=orjson.dumps(body), headers={"User-Agent": googlebot})
    saved = stored(client, site[0])
    assert saved["human"]["user_agent"]["browser"] == "Chrome"
    assert saved["human"]["user_agent"]["is_bot"] is False
    assert saved["bot"]["user_agent"]["is_bot"] is True


def test_received_at_is_the_server_time(client: TestClient, site: Site) -> None:
    before = int(time.time() * 1000)
    post(client, webevent_body(site[0], browser_event("MainPage")))
    assert before <= rows(client, site[0])[0]["received_at"] <= int(time.time() * 1000)


# --- values that would not fit the log's columns --------------------------------------------


@pytest.mark.parametrize(
    ("envelope", "field"),
    [({"visitor_id": "v\x00"}, "visitor_id"), ({"session_id": "s\x00"}, "session_id")],
)
def test_nul_in_ids_is_refused_not_a_failed_commit(
    client: TestClient, site: Site, envelope: dict[str, Any], field: str
) -> None:
    # PostgreSQL text cannot hold NUL: stored as-is it would fail the commit of the whole
    # group, other clients' events included.
    response = post(client, webevent_body(site[0], browser_event("MainPage")) | envelope)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field


@pytest.mark.parametrize(
    ("guid", "field"),
    [
        ("g" * 129, "StatusCart.GUID"),
        # Refused at the edge, as any string no store can hold, with its path in the batch.
        ("g\x00", "events[0].payload.GUID"),
    ],
    ids=["too-long", "nul"],
)
def test_a_guid_that_does_not_fit_the_log_is_rejected_alone(
    client: TestClient, site: Site, guid: str, field: str
) -> None:
    body = webevent_body(
        site[0],
        browser_event("StatusCart", {"StatusCart": [], "GUID": guid}, event_id="bad"),
        browser_event("MainPage", event_id="good"),
    )
    response = post(client, body)
    assert response.status_code == 200, response.text
    assert response.json()["rejected"][0]["error"]["field"] == field
    assert set(stored(client, site[0])) == {"good"}


def test_a_rejection_holding_nul_characters_is_still_stored(client: TestClient, site: Site) -> None:
    # The field path of this refusal holds a NUL from the body: the rejection must be kept.
    body = webevent_body(site[0], browser_event("MainPage", {"a\x00": "x" * 5000}))
    response = post(client, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "string_too_long"
    assert len(rows(client, site[0], rejected_events)) == 1
