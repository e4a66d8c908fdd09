"""Property tests: arbitrary JSON and junk bytes at every endpoint.

Whatever arrives: never a 500, never a hang, and whatever lands in the event log is a valid
canonical event of a known type. Runs on SQLite only, against one app for the whole module,
to stay fast; the same code paths run on PostgreSQL in the HTTP suites.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoptrack.config import Settings
from shoptrack.events.types import EventType
from shoptrack.store.events_repo import EventLog
from shoptrack.web.app import create_app

pytestmark = pytest.mark.timeout(120)

FUZZ = settings(
    max_examples=70,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Server:
    """One app on a fresh SQLite file, with a site and its key."""

    def __init__(self, client: TestClient, site_id: str, key: str) -> None:
        self.client = client
        self.site_id = site_id
        self.key = key
        self.log: EventLog = client.app.state.services.event_log  # type: ignore[attr-defined]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("properties")
    app_settings = Settings(
        database_url=f"sqlite:///{tmp / 'shoptrack.db'}",
        key_file=tmp / "shoptrack.keys",
        commit_interval_ms=0,
        # Durability is not what is tested here; fsync on every commit would dominate the time.
        sqlite_synchronous="OFF",
        # Small enough that generated bodies reach the limits too.
        max_string_length=200,
        max_list_length=50,
        max_depth=10,
    )
    with TestClient(create_app(app_settings), raise_server_exceptions=False) as client:
        repo = client.app.state.services.site_repo  # type: ignore[attr-defined]
        site, key = repo.create("Fuzzed shop", site_id="fuzz")
        yield Server(client, site.site_id, key)


# --- strategies -----------------------------------------------------------------------------

EVENT_NAMES = [t.value for t in EventType] + ["ProductImpressions", "productpage", "Nope"]
FIELD_NAMES = [
    "productKey", "product_id", "price", "unit_price", "quantity", "currency",
    "price_currency_code", "isInStock", "discount", "container_type", "GUID", "OrderNumber",
    "Tags", "Products", "Product", "Category", "categoryKey", "search", "isFound",
    "tag_color", "tags_size", "GeneralInfo", "s_location", "user_email", "user_phone",
    "CustomerData", "eventName", "siteId", "datetime", "cookies", "sc", "eventId",
    *EVENT_NAMES,
]  # fmt: skip
SCALAR_TEXT = st.sampled_from(
    ["", " ", "754 USD", "450.00", "1 234,50", "$15", "1", "0", "true", "1,2,3", "\x00", "fuzz"]
) | st.text(max_size=12)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | SCALAR_TEXT
)
keys = st.sampled_from(FIELD_NAMES) | st.text(max_size=10)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=20,
)
json_objects = st.dictionaries(keys, json_values, max_size=6)


# Values in the shapes real shops send, good and bad, so that many events are accepted and
# the canonical form of what is stored gets checked, not only the refusals.
def mostly(
    valid: st.SearchStrategy[Any], junk: st.SearchStrategy[Any], one_in: int = 10
) -> st.SearchStrategy[Any]:
    """Junk one time in ``one_in``: enough to be refused, and enough valid events get stored.

    (A choice by ``sampled_from``: ``one_of`` would merge equal branches, and hypothesis
    favours small integers, so ``integers(0, 9) == 0`` is far likelier than one in ten.)
    """
    choices = [False] * (one_in - 1) + [True]
    return st.sampled_from(choices).flatmap(lambda is_junk: junk if is_junk else valid)


key_values = mostly(
    st.sampled_from(["24-MB02", "430738", "123/2017"]) | st.integers(0, 10**6),
    st.sampled_from([" ", "", "a\x00b", True]) | st.text(max_size=8),
)
price_values = mostly(
    st.sampled_from(["754 USD", "450.00", "1 234,50", "$15", "15 €", "153", ""])
    | st.floats(min_value=0, max_value=1e9)
    | st.integers(min_value=0, max_value=10**9),
    st.sampled_from(["abc", "15.5.5", "-1", "1e5", None]) | st.floats() | scalars,
)
flag_values = mostly(
    st.sampled_from([1, "1", 0, "0", True, False, "", "true"]), st.sampled_from(["2", 7, "no!"])
)
quantity_values = mostly(st.sampled_from(["1", "3", "2.5"]) | st.integers(0, 100), scalars)
currency_values = mostly(st.sampled_from(["USD", "uah", "$", "", None]), st.sampled_from([5, " "]))
tag_maps = st.dictionaries(
    st.text(max_size=6), st.lists(st.text(max_size=6), max_size=3) | scalars, max_size=3
)
tags = mostly(tag_maps, json_values)
guids = mostly(st.uuids().map(str) | st.just("g-1"), st.sampled_from(["", "g" * 129, "g\x00"]), 4)
_product_fields = {
    "productKey": key_values,
    "product_id": key_values,
    "price": price_values,
    "unit_price": price_values,
    "quantity": quantity_values,
    "currency": currency_values,
    "price_currency_code": currency_values,
    "isInStock": flag_values,
    "discount": price_values,
    "container_type": key_values,
    "tag_color": tags,
    "Tags": tags,
    "note": json_values,
}
products = mostly(
    st.fixed_dictionaries(
        {"productKey": key_values, "price": price_values, "quantity": quantity_values},
        optional={
            k: v for k, v in _product_fields.items() if k not in ("productKey", "price", "quantity")
        },
    ),
    st.fixed_dictionaries({}, optional=_product_fields),
)
product_lists = mostly(st.lists(products, max_size=3), json_values, 4)
# The shapes the spec shows for each type; any other shape is tried now and then.
SHAPES = {
    "ProductPage": ["product", "inner"],
    "AddToWishlist": ["product", "inner"],
    "StatusCart": ["list", "products"],
    "PurchasedItems": ["list", "products"],
    "ProductImpression": ["list", "products"],
    "ProductUpdate": ["list", "products"],
    "CategoryPage": ["category"],
    "SearchRequest": ["search"],
    "CustomerData": ["customer"],
}
ALL_SHAPES = ["list", "products", "product", "inner", "category", "search", "customer"]


@st.composite
def spec_payloads(draw: st.DrawFn, name: str) -> Any:
    """A payload in one of the spec's shapes for ``name``, with loosely valid values."""
    section = name[:-1] if name == "ProductImpressions" else name
    guid = draw(mostly(guids.map(lambda g: {"GUID": g}), st.just({}), 4))
    order = draw(mostly(key_values.map(lambda n: {"OrderNumber": n}), st.just({}), 4))
    beside = draw(st.dictionaries(st.sampled_from(["Tags", "GeneralInfo"]), tags, max_size=2))
    fitting = SHAPES.get(section, ALL_SHAPES)
    shape = draw(st.sampled_from(ALL_SHAPES if draw(rarely) else fitting))
    if shape == "list":  # sendEvent: StatusCart, PurchasedItems, ProductImpression
        return {section: draw(product_lists), **guid, **order, **beside}
    if shape == "products":  # sendEventWithTags with a Products list
        inner = {"Products": draw(product_lists), **guid, **order, "Tags": draw(tags)}
        return {section: inner, **beside}
    if shape == "product":  # sendEvent: ProductPage, AddToWishlist
        return {section: draw(products), **beside}
    if shape == "inner":  # sendEventWithTags: {"Product": {...}, "Tags": {...}}
        return {section: {"Product": draw(products), "Tags": draw(tags)}}
    if shape == "category":
        return {section: {"Category": {"categoryKey": draw(key_values)}}, **beside}
    if shape == "search":
        return {section: {"search": draw(key_values), "isFound": draw(flag_values)}}
    email = draw(st.sampled_from(["a@b.co", ""]))
    return {section: {"user_email": email, "user_city": "Lviv"}}


rarely = mostly(st.just(False), st.just(True))
times = mostly(st.none() | st.integers(min_value=0, max_value=4 * 10**12), SCALAR_TEXT, 20)


@st.composite
def browser_events(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(EVENT_NAMES))
    event: dict[str, Any] = {
        "id": draw(mostly(st.uuids().map(str) | st.none(), st.sampled_from(["dup", "", "x y"]))),
        "style": draw(mostly(st.sampled_from(["sendEvent", "sendEventWithTags"]), scalars)),
        "name": draw(mostly(st.just(name), st.sampled_from([5, None, "Nope", ""]))),
        "time": draw(times),
    }
    if not draw(rarely):
        event["payload"] = draw(spec_payloads(name))
    elif draw(st.booleans()):
        event["payload"] = draw(json_values)
    if draw(rarely):
        event["general"] = draw(json_objects)
    return event


@st.composite
def webevent_bodies(draw: st.DrawFn, site_id: str) -> dict[str, Any]:
    """A browser batch whose envelope is mostly valid, so its events get read."""
    body: dict[str, Any] = {
        "v": 1,
        "site_id": site_id,
        "visitor_id": draw(st.sampled_from(["v-1", "v-2", None])),
        "session_id": draw(st.sampled_from(["s-1", None])),
        "sent_at": draw(st.none() | st.integers(min_value=0, max_value=4 * 10**12)),
        "page": draw(
            st.none()
            | st.fixed_dictionaries(
                {"url": st.sampled_from(["https://s/?sc_content=1_r1v1", "http://[x", "/"])}
            )
        ),
        "general": draw(st.none() | json_objects),
        "events": draw(st.lists(browser_events(), max_size=4)),
    }
    if draw(rarely):
        # Now and then, one envelope field is anything at all.
        body[draw(st.sampled_from(sorted(body)))] = draw(json_values)
    return body


@st.composite
def rest_bodies(draw: st.DrawFn, site_id: str) -> dict[str, Any]:
    name = draw(st.sampled_from(EVENT_NAMES))
    general: dict[str, Any] = draw(st.dictionaries(keys, scalars, max_size=3))
    general.update(
        {
            "eventName": draw(mostly(st.just(name), st.sampled_from(["", None, 7]))),
            "siteId": draw(mostly(st.just(site_id), st.sampled_from(["other", "", "a b"]))),
            "datetime": draw(times),
            "cookies": {"sc": draw(st.sampled_from(["v-rest", ""]))},
        }
    )
    body = {name: draw(json_values)} if draw(rarely) else draw(spec_payloads(name))
    if not isinstance(body, dict):
        body = {name: body}
    general_section = body.get("GeneralInfo")
    if isinstance(general_section, dict):
        general = {**general_section, **general}
    return {**body, "GeneralInfo": general}


# --- checks ---------------------------------------------------------------------------------

TYPES = {t.value for t in EventType}
PRODUCT_FIELDS = {"key", "price", "currency", "quantity", "discount", "in_stock", "block"}
CANONICAL_FIELDS = {
    "id", "site_id", "type", "occurred_at", "received_at", "visitor_id", "session_id",
    "contact_id", "source", "page", "location", "products", "cart_guid", "order_number",
    "category_key", "search", "tags",
}  # fmt: skip


def _is_tag_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) for x in v)
        for k, v in value.items()
    )


def _is_amount(value: Any) -> bool:
    return value is None or (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def assert_canonical(data: str) -> None:
    """A stored event is canonical JSON of a known type with its required fields."""
    event = orjson.loads(data)
    assert set(event) >= CANONICAL_FIELDS
    assert event["type"] in TYPES
    assert event["source"] in ("browser", "rest")
    assert isinstance(event["id"], str) and event["id"]
    for moment in (event["occurred_at"], event["received_at"]):
        datetime.fromisoformat(moment.replace("Z", "+00:00"))
    assert _is_tag_map(event["tags"])
    for product in event["products"]:
        assert set(product) >= PRODUCT_FIELDS
        assert isinstance(product["key"], str) and product["key"].strip()
        assert _is_amount(product["price"])
        assert _is_amount(product["quantity"])
        assert product["in_stock"] in (None, True, False)
        assert product["currency"] is None or isinstance(product["currency"], str)
        assert product["block"] is None or isinstance(product["block"], str)
        assert _is_tag_map(product["attributes"])
    kind = event["type"]
    if kind in ("ProductPage", "AddToWishlist"):
        assert len(event["products"]) == 1
    if kind == "StatusCart":
        assert isinstance(event["cart_guid"], str) and len(event["cart_guid"]) <= 128
    if kind == "PurchasedItems":
        assert isinstance(event["order_number"], str)
        assert event["products"] or event["cart_guid"]
    if kind == "CategoryPage":
        assert isinstance(event["category_key"], str)
    if kind == "SearchRequest":
        assert isinstance(event["search"]["query"], str)
        assert event["search"]["found"] in (None, True, False)
    if kind == "ProductImpression":
        assert event["products"]
        assert all(isinstance(p["block"], str) for p in event["products"])
    if kind == "ProductUpdate":
        assert all(p["in_stock"] is not None for p in event["products"])


def assert_no_server_error(response: Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400 and response.content:
        error = response.json()["error"]
        assert set(error) == {"code", "message", "field"}


def new_events(server: Server, after_seq: int) -> list[tuple[int, str]]:
    return server.log.after(after_seq, limit=10_000)


# --- the properties -------------------------------------------------------------------------


@FUZZ
@given(body=json_values)
def test_webevent_any_json(server: Server, body: Any) -> None:
    start = server.log.last_seq()
    response = server.client.post("/webevent", content=orjson.dumps(body))
    assert_no_server_error(response)
    for _, data in new_events(server, start):
        assert_canonical(data)


@FUZZ
@given(data=st.data())
def test_webevent_plausible_batches(server: Server, data: st.DataObject) -> None:
    body = data.draw(webevent_bodies(server.site_id))
    start = server.log.last_seq()
    response = server.client.post(
        "/webevent", content=orjson.dumps(body), headers={"Content-Type": "text/plain"}
    )
    assert_no_server_error(response)
    stored = new_events(server, start)
    for _, event in stored:
        assert_canonical(event)
    if response.status_code == 200:
        # The answer's ids are the events that are now in the log.
        answer_ids = set(response.json()["ids"])
        stored_ids = {orjson.loads(event)["id"] for _, event in stored}
        assert stored_ids <= answer_ids
    else:
        assert stored == []


@FUZZ
@given(data=st.data(), with_key=st.booleans())
def test_rest_v2_plausible_events(server: Server, data: st.DataObject, with_key: bool) -> None:
    body = data.draw(rest_bodies(server.site_id))
    start = server.log.last_seq()
    headers = server.auth if with_key else {}
    response = server.client.post("/api/v2", content=orjson.dumps(body), headers=headers)
    assert_no_server_error(response)
    stored = new_events(server, start)
    for _, event in stored:
        assert_canonical(event)
        # The catalogue only ever changes with the site's key.
        assert with_key or orjson.loads(event)["type"] != "ProductUpdate"
    if response.status_code != 200:
        assert stored == []


@FUZZ
@given(data=st.data(), with_key=st.booleans())
def test_import_plausible_batches(server: Server, data: st.DataObject, with_key: bool) -> None:
    items = data.draw(st.lists(rest_bodies(server.site_id) | json_values, max_size=4))
    body = data.draw(
        st.just({"events": items}) | st.just(items) | json_values.map(lambda v: {"events": v})
    )
    start = server.log.last_seq()
    headers = server.auth if with_key else {}
    response = server.client.post("/api/v1/events", content=orjson.dumps(body), headers=headers)
    assert_no_server_error(response)
    stored = new_events(server, start)
    if not with_key:
        assert response.status_code == 401
        assert stored == []
    for _, event in stored:
        assert_canonical(event)


ENDPOINTS = ["/webevent", "/api/v2", "/api/v1/events"]


@FUZZ
@given(body=st.binary(max_size=400), endpoint=st.sampled_from(ENDPOINTS), with_key=st.booleans())
def test_junk_bytes_at_every_endpoint(
    server: Server, body: bytes, endpoint: str, with_key: bool
) -> None:
    start = server.log.last_seq()
    headers = server.auth if with_key else {}
    response = server.client.post(endpoint, content=body, headers=headers)
    assert_no_server_error(response)
    for _, data in new_events(server, start):
        assert_canonical(data)


QUERY_NAMES = ["type", "visitor_id", "since", "limit", "before"]
query_values = (
    st.text(max_size=30)
    | st.integers(min_value=-(10**20), max_value=10**20).map(str)
    | st.sampled_from(["ProductPage", "2026-11-27", "2026-11-27T10:00:00Z", "²", "1e3", "\x00"])
)


@FUZZ
@given(
    params=st.dictionaries(st.sampled_from(QUERY_NAMES) | st.text(max_size=5), query_values),
    with_key=st.booleans(),
)
def test_event_listing_any_query(server: Server, params: dict[str, str], with_key: bool) -> None:
    headers = server.auth if with_key else {}
    response = server.client.get("/api/v1/events", params=params, headers=headers)
    assert_no_server_error(response)
    if response.status_code == 200:
        for event in response.json()["events"]:
            assert_canonical(orjson.dumps(event).decode())
            assert event["site_id"] == server.site_id


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(["limit", "before"]) | st.text(max_size=5), query_values
    ),
    with_key=st.booleans(),
)
def test_rejected_listing_any_query(server: Server, params: dict[str, str], with_key: bool) -> None:
    headers = server.auth if with_key else {}
    response = server.client.get("/api/v1/rejected-events", params=params, headers=headers)
    assert_no_server_error(response)
    if not with_key:
        assert response.status_code == 401
