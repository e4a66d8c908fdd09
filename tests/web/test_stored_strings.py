"""Issue 13 point 1: no string a store refuses gets past the edge.

PostgreSQL text cannot hold NUL (and no store should hold a lone surrogate). A value with one
was accepted (200), stored in the event's JSON (where it is escaped), and then refused by the
store when a processor copied it into a text column: the catalogue processor failed on it.
Every ingestion path and every /api/v1 body that stores strings now refuses such a value with
one 400 naming the field, recorded as a rejected event where events are concerned.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from shoptrack.processing.runner import ProcessorRunner
from shoptrack.store.tables import catalog_products, events, processor_failures, rejected_events
from tests.support.apps import DATABASES, module_app
from tests.support.payloads import browser_event, rest_body, webevent_body

Site = tuple[str, str]


@pytest.fixture(scope="module", params=DATABASES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    # The test runs the processors itself (runner.drain), to see what each event did.
    with module_app(request, tmp_path_factory, "strings", run_processors=False) as client:
        yield client


@pytest.fixture
def client(server: TestClient) -> TestClient:
    return server


def _services(client: TestClient) -> Any:
    return client.app.state.services  # type: ignore[attr-defined]


def _new_site(client: TestClient) -> Site:
    created, key = _services(client).site_repo.create("Strings shop")
    return created.site_id, key


@pytest.fixture
def site(client: TestClient) -> Site:
    return _new_site(client)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _engine(client: TestClient) -> Engine:
    engine: Engine = _services(client).engine
    return engine


def _rejections(client: TestClient, site_id: str) -> list[Any]:
    stmt = (
        select(rejected_events.c.step, rejected_events.c.field, rejected_events.c.message)
        .where(rejected_events.c.site_id == site_id)
        .order_by(rejected_events.c.seq)
    )
    with _engine(client).connect() as conn:
        return list(conn.execute(stmt).all())


def _all_rejections(client: TestClient) -> int:
    with _engine(client).connect() as conn:
        return len(conn.execute(select(rejected_events.c.seq)).all())


def _stored_events(client: TestClient, site_id: str) -> int:
    with _engine(client).connect() as conn:
        rows = conn.execute(select(events.c.seq).where(events.c.site_id == site_id)).all()
    return len(rows)


def _product_update(site_id: str, key: str, name: str) -> dict[str, Any]:
    products = [{"productKey": key, "name": name, "price": "5", "isInStock": 1}]
    return rest_body(site_id, "ProductUpdate", {"ProductUpdate": {"Products": products}})


def _titles(client: TestClient, site_id: str) -> dict[str, str]:
    stmt = select(catalog_products.c.product_key, catalog_products.c.title).where(
        catalog_products.c.site_id == site_id
    )
    with _engine(client).connect() as conn:
        return {row.product_key: row.title for row in conn.execute(stmt)}


def test_the_issues_request_is_refused_and_stalls_no_processor(client: TestClient) -> None:
    """The reproduction of the issue, on both stores."""
    site_a, key_a = _new_site(client)
    site_b, key_b = _new_site(client)
    issue_body = (
        b'{"GeneralInfo":{"eventName":"ProductUpdate","siteId":"%s"},"ProductUpdate":{"Products":'
        b'[{"productKey":"FZ7","name":"n\\u0000","price":"5","isInStock":1}]}}' % site_a.encode()
    )
    response = client.post("/api/v2", content=issue_body, headers=_auth(key_a))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["field"] == "ProductUpdate.Products[0].name"
    assert error["message"] == "ProductUpdate.Products[0].name: must not contain NUL"
    assert _stored_events(client, site_a) == 0
    [(step, field, message)] = _rejections(client, site_a)
    assert (step, field) == ("limits", "ProductUpdate.Products[0].name")
    assert "NUL" in message

    # Both sites' catalogues still follow their updates; no processor failed on anything.
    for site_id, key in ((site_a, key_a), (site_b, key_b)):
        good = _product_update(site_id, "FZ7", "Fine name")
        assert client.post("/api/v2", json=good, headers=_auth(key)).status_code == 200
    runner: ProcessorRunner = _services(client).runner
    runner.drain()
    assert _titles(client, site_a) == {"FZ7": "Fine name"}
    assert _titles(client, site_b) == {"FZ7": "Fine name"}
    with _engine(client).connect() as conn:
        assert conn.execute(select(processor_failures.c.seq)).all() == []


# --- every ingestion path -------------------------------------------------------------------


def _post_raw(client: TestClient, path: str, body: bytes, key: str | None = None) -> Any:
    headers = {"Content-Type": "application/json", **(_auth(key) if key else {})}
    return client.post(path, content=body, headers=headers)


def test_a_browser_event_with_nul_is_rejected_alone(client: TestClient, site: Site) -> None:
    site_id, _ = site
    body = webevent_body(
        site_id,
        browser_event("ProductPage", {"ProductPage": {"productKey": "K1"}}, event_id="good"),
        browser_event(
            "ProductPage", {"ProductPage": {"productKey": "K2", "tags": ["a\x00"]}}, event_id="bad"
        ),
    )
    response = _post_raw(client, "/webevent", orjson.dumps(body))
    assert response.status_code == 200, response.text
    [rejected] = response.json()["rejected"]
    assert rejected["id"] == "bad"
    assert rejected["error"] == {
        "code": "invalid_value",
        "message": "events[1].payload.ProductPage.tags[0]: must not contain NUL",
        "field": "events[1].payload.ProductPage.tags[0]",
    }
    assert _stored_events(client, site_id) == 1
    [(step, field, _message)] = _rejections(client, site_id)
    assert (step, field) == ("limits", "events[1].payload.ProductPage.tags[0]")


def test_nul_in_a_key_of_the_browser_envelope_refuses_the_body(
    client: TestClient, site: Site
) -> None:
    site_id, _ = site
    body = webevent_body(site_id, browser_event("MainPage"), general={"x\x00y": "1"})
    response = _post_raw(client, "/webevent", orjson.dumps(body))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    # The key is shown escaped: the field path itself is storable text.
    assert error["field"] == "general.x\\u0000y"
    assert error["message"] == "general.x\\u0000y: a field name must not contain NUL"
    assert _stored_events(client, site_id) == 0
    [(step, field, _message)] = _rejections(client, site_id)
    assert (step, field) == ("limits", "general.x\\u0000y")


def test_bulk_import_rejects_only_the_event_with_nul(client: TestClient, site: Site) -> None:
    site_id, key = site
    good = rest_body(site_id, "ProductPage", {"ProductPage": {"productKey": "K1"}})
    bad = _product_update(site_id, "K2", "fine")
    bad["ProductUpdate"]["Products"][0]["tag_color"] = "red\x00"
    response = _post_raw(client, "/api/v1/events", orjson.dumps({"events": [good, bad]}), key)
    assert response.status_code == 200, response.text
    [rejected] = response.json()["rejected"]
    assert rejected["index"] == 1
    assert rejected["error"]["field"] == "ProductUpdate.Products[0].tag_color"
    assert _stored_events(client, site_id) == 1
    [(step, field, _message)] = _rejections(client, site_id)
    assert (step, field) == ("limits", "ProductUpdate.Products[0].tag_color")


@pytest.mark.parametrize(
    "text",
    [b'"\\ud800"', b'"x\\udfffy"', b'"\\ud800\\u0041"', b'"\xed\xa0\x80"'],
    ids=["high-escape", "low-escape", "high-then-letter", "utf8-encoded"],
)
def test_a_lone_surrogate_is_refused_by_every_ingestion_path(
    client: TestClient, site: Site, text: bytes
) -> None:
    # orjson refuses them while parsing: the body is not valid JSON (RFC 8259 §8.2 allows a
    # parser to; it is never text a store can hold). The refusal is kept with its reason.
    site_id, key = site
    rejected_before = _all_rejections(client)
    rest = b'{"GeneralInfo":{"eventName":"ProductUpdate","siteId":"%s"},"ProductUpdate":' % (
        site_id.encode()
    )
    rest += b'{"Products":[{"productKey":"K","name":%s}]}}' % text
    browser = b'{"site_id":"%s","events":[{"name":"MainPage","payload":{"x":%s}}]}' % (
        site_id.encode(),
        text,
    )
    for path, body in (
        ("/api/v2", rest),
        ("/webevent", browser),
        ("/api/v1/events", b'{"events":[%s]}' % rest),
    ):
        response = _post_raw(client, path, body, key)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"]["code"] == "invalid_json", path
    assert _stored_events(client, site_id) == 0
    # The browser's is kept without a site: its body names none that can be read.
    assert [step for step, _field, _message in _rejections(client, site_id)] == ["parse"] * 2
    assert _all_rejections(client) == rejected_before + 3


# --- /api/v1 bodies that store strings --------------------------------------------------------

NUL_AND_SURROGATE = [("\x00", "must not contain NUL"), ("\ud800", "must not contain a lone")]


def _json_with(value: Any) -> bytes:
    """JSON as the standard library writes it: a lone surrogate as its escape, which FastAPI's
    own reader (not orjson) accepts."""
    return json.dumps(value).encode()


@pytest.mark.parametrize(("bad", "reason"), NUL_AND_SURROGATE, ids=["nul", "surrogate"])
def test_api_v1_bodies_refuse_unstorable_strings_naming_the_field(
    client: TestClient, site: Site, bad: str, reason: str
) -> None:
    _, key = site
    block = {"name": "ok", "page_type": "product", "variants": [{"algorithm": "popular"}]}
    created = client.post("/api/v1/blocks", json=block, headers=_auth(key))
    assert created.status_code == 201, created.text
    block_id = created.json()["block_id"]
    variant_id = created.json()["variants"][0]["variant_id"]
    calls = [
        ("POST", "/api/v1/contacts", {"email": "a@example.com", "firstName": f"A{bad}"}),
        (
            "POST",
            "/api/v1/contacts",
            {"contacts": [{"email": "b@example.com", "fields": {bad: 1}}]},
        ),
        ("PATCH", "/api/v1/site/settings", {"default_region": f"D{bad}"}),
        ("POST", "/api/v1/feeds", {"url": f"https://feeds.example/{bad}.xml"}),
        ("POST", "/api/v1/blocks", {**block, "name": f"n{bad}"}),
        ("PATCH", f"/api/v1/blocks/{block_id}", {"filters": {"brand": [f"b{bad}"]}}),
        (
            "POST",
            f"/api/v1/blocks/{block_id}/variants",
            {"algorithm": "popular", "params": {bad: 1}},
        ),
        ("PATCH", f"/api/v1/blocks/{block_id}/variants/{variant_id}", {"params": {"k": bad}}),
    ]
    fields = [
        "firstName",
        "contacts[0].fields.\\u0000" if bad == "\x00" else "contacts[0].fields.\\ud800",
        "default_region",
        "url",
        "name",
        "filters.brand[0]",
        "params.\\u0000" if bad == "\x00" else "params.\\ud800",
        "params.k",
    ]
    for (method, path, body), field in zip(calls, fields, strict=True):
        response = client.request(
            method,
            path,
            content=_json_with(body),
            headers={**_auth(key), "Content-Type": "application/json"},
        )
        where = (method, path, response.text)
        if path in ("/api/v1/contacts", "/api/v1/site/settings") and bad == "\ud800":
            # orjson reads these bodies: a lone surrogate is not JSON to it.
            assert response.status_code == 400, where
            assert response.json()["error"]["code"] == "invalid_json", where
            continue
        assert response.status_code == 400, where
        error = response.json()["error"]
        assert error["field"] == field, where
        assert error["message"].startswith(f"{field}: "), where
        assert reason in error["message"], where


def test_path_and_query_values_that_cannot_be_stored_are_400(
    client: TestClient, site: Site
) -> None:
    _, key = site
    for path in ("/api/v1/contacts/ct%00x", "/api/v1/products?q=a%00"):
        response = client.get(path, headers=_auth(key))
        assert response.status_code == 400, response.text
        assert "must not contain NUL" in response.json()["error"]["message"]
    # Percent-escapes of a surrogate's UTF-8 bytes reach the app as U+FFFD (the server decodes
    # with errors="replace"): a lone surrogate cannot arrive by the path or the query.
    response = client.get("/api/v1/products?q=a%ED%A0%80", headers=_auth(key))
    assert response.status_code == 200, response.text
