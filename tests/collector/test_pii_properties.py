"""Issue 13 point 2, as a property: generated e-mails and phones put in every position of
every event shape the spec shows, sent through the real collector on SQLite and PostgreSQL,
are found in no stored text (the raw SQLite files; every PostgreSQL row as text).

Positions: each string leaf of each shape (replaced by the e-mail, by the phone, and by a
sentence holding both), personal keys added to each object (``email``, ``phone``,
``tag_email``, a nested ``customer``), a ``Tags`` object, a personal key holding the value, the
page's URL, referrer and title, and the same shapes through the REST endpoint. Values refused
(an e-mail as a price) land in ``rejected_events``, whose plain columns are checked too.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from shoptrack.config import Settings
from shoptrack.web.app import create_app
from tests.support.identity import auth, drain, services_of
from tests.support.payloads import browser_event, rest_body, webevent_body
from tests.support.stored import found_in, stored_bytes

pytestmark = pytest.mark.timeout(300)

GUID = "6F9619FF-8B86-D011-B42D-00CF4FC964FF"
ITEM = {"productKey": "24-MB02", "price": "153", "quantity": "1", "currency": "USD"}
# (event name, style, payload): the spec's shapes, as tests/events/test_normalize.py reads them.
SHAPES: list[tuple[str, str, dict[str, Any]]] = [
    ("PageView", "sendEvent", {"PageView": {}}),
    (
        "ProductPage",
        "sendEvent",
        {
            "ProductPage": {
                "productKey": "24-MB02",
                "price": "153",
                "isInStock": 1,
                "tag_some_field": ["123"],
            }
        },
    ),
    (
        "ProductPage",
        "sendEventWithTags",
        {
            "ProductPage": {
                "Product": {
                    "productKey": "72354",
                    "price": "754 USD",
                    "isInStock": "1",
                    "tag_something": ["abc"],
                },
                "Tags": {"some_tags": ["some_tag1"]},
            }
        },
    ),
    (
        "ProductPage",
        "sendEvent",
        {
            "GeneralInfo": {
                "externalCustomerId": "1234509876",
                "user_email": "example@email.com",
                "user_phone": "380501234567",
                "s_location": "19534_r24v435",
            },
            "ProductPage": {"productKey": "24-WG02"},
        },
    ),
    ("StatusCart", "sendEvent", {"StatusCart": [dict(ITEM, tag_something=["aaa"])], "GUID": GUID}),
    (
        "StatusCart",
        "sendEventWithTags",
        {
            "StatusCart": {
                "GUID": GUID,
                "Products": [
                    {
                        "productKey": "430738",
                        "price": 201.95,
                        "discount": 180,
                        "quantity": 1,
                        "price_currency_code": "UAH",
                        "tag_something": ["aaa"],
                    }
                ],
                "Tags": {"some_tags": ["1", "a2"]},
            }
        },
    ),
    (
        "PurchasedItems",
        "sendEvent",
        {"OrderNumber": "123/2017", "PurchasedItems": [ITEM], "Tags": {"blockId": ["1_r1v2"]}},
    ),
    (
        "PurchasedItems",
        "sendEventWithTags",
        {
            "PurchasedItems": {
                "Products": [{"product_id": "430738", "unit_price": "201.95", "quantity": 1}],
                "OrderNumber": "123/2017",
                "Tags": {"block_id": ["21246_r335v507"]},
            }
        },
    ),
    ("PurchasedItems", "sendEvent", {"OrderNumber": "9/1", "PurchasedItems": [ITEM], "GUID": GUID}),
    (
        "CustomerData",
        "sendEvent",
        {
            "CustomerData": {
                "externalCustomerId": "1234509876",
                "user_email": "example@email.com",
                "user_name": "Johny",
                "user_phone": "3801111111111",
                "user_city": "Gdansk",
            }
        },
    ),
    (
        "CategoryPage",
        "sendEvent",
        {"CategoryPage": {"categoryKey": "509876"}, "Tags": {"some_tags": ["gh"]}},
    ),
    (
        "CategoryPage",
        "sendEventWithTags",
        {"CategoryPage": {"Category": {"categoryKey": "509876"}, "Tags": {"some_tags": ["gh"]}}},
    ),
    (
        "AddToWishlist",
        "sendEvent",
        {"AddToWishlist": {"productKey": "24-MB02", "price": "153", "isInStock": 1}},
    ),
    (
        "AddToWishlist",
        "sendEventWithTags",
        {
            "AddToWishlist": {
                "Product": {"productKey": "24-MB02", "price": "153"},
                "Tags": {"list": ["summer"]},
            }
        },
    ),
    ("SearchRequest", "sendEvent", {"SearchRequest": {"search": "input_value", "isFound": 1}}),
    (
        "SearchRequest",
        "sendEventWithTags",
        {"SearchRequest": {"search": "Coffe", "isFound": 0, "Tags": {"source": ["header"]}}},
    ),
    (
        "ProductImpressions",
        "sendEvent",
        {"ProductImpression": [{"product_id": "430968", "container_type": "1253_r963v1317"}]},
    ),
    (
        "ProductImpression",
        "sendEventWithTags",
        {
            "ProductImpressions": {
                "Products": [{"product_id": "430968", "container_type": "1253_r963v1317"}],
                "Tags": {"some_tags": ["1"]},
            }
        },
    ),
]

# --- strategies -------------------------------------------------------------------------------

_LOCAL = st.text("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789._+-", min_size=1, max_size=16).filter(
    lambda s: s[0].isalnum() and s[-1].isalnum() and ".." not in s
)
_LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12).filter(
    lambda s: s[0].isalnum() and s[-1].isalnum()
)
_TLD = st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=8)
emails = st.builds(lambda local, domain, tld: f"{local}@pii-{domain}.{tld}", _LOCAL, _LABEL, _TLD)


@st.composite
def phones(draw: st.DrawFn) -> tuple[str, str]:
    """(the phone as written with its "+", the same number as a national one without it)."""
    country = draw(st.sampled_from(["1", "44", "48", "380", "49"]))
    # Distinctive digits: "000000000" would be found in any store by chance.
    rest = draw(st.text("0123456789", min_size=8, max_size=10).filter(lambda d: len(set(d)) >= 6))
    digits = f"{country}{rest}"
    separator = draw(st.sampled_from(["", " ", "-", "."]))
    groups = [digits[len(country) : len(country) + 2], digits[len(country) + 2 :]]
    if draw(st.booleans()):
        written = f"+{country} ({groups[0]}) {groups[1][:3]}{separator}{groups[1][3:]}"
    else:
        written = f"+{country}{separator}{groups[0]}{separator}{groups[1]}"
    return written, "0" + rest


# --- positions --------------------------------------------------------------------------------


def _leaf_paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaf_paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaf_paths(value, (*path, index))
    else:
        yield path


def _object_paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        yield path
        for key, value in node.items():
            yield from _object_paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _object_paths(value, (*path, index))


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


def _set(payload: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(payload)
    _at(changed, path[:-1])[path[-1]] = value
    return changed


def _with_keys(payload: dict[str, Any], path: tuple[Any, ...], keys: dict[str, Any]) -> Any:
    changed = copy.deepcopy(payload)
    _at(changed, path).update(keys)
    return changed


def variants(email: str, phone: str, national: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every shape with the values in every position (see the module's docstring)."""
    sentence = f"write to {email} or call {phone}"
    personal = {
        "email": email,
        "E-Mail": email.upper(),
        "phone": national,
        "tel": phone,
        "tag_email": [email],
        "customer": {"phone": national, "mobile": phone, "contact": {"mail": email}},
        "Tags": {"email": [email], "phone": [national], sentence: ["x"]},
        "note": sentence,
        email: national,
    }
    out: list[tuple[str, str, dict[str, Any]]] = []
    for name, style, payload in SHAPES:
        for path in _leaf_paths(payload):
            for value in (email, phone, sentence):
                out.append((name, style, _set(payload, path, value)))
        for path in _object_paths(payload):
            out.append((name, style, _with_keys(payload, path, personal)))
    return out


def _page(email: str, phone: str, national: str) -> dict[str, Any]:
    encoded = email.replace("@", "%40")
    return {
        "url": f"https://shop.example/u/{encoded}/orders?tel={national}&email={email}&q={phone}",
        "referrer": f"https://mail.example/inbox?to={encoded}&phone_number={national}",
        "title": f"Olena ({email}, {phone}) – My account",
    }


# --- the servers --------------------------------------------------------------------------------


@pytest.fixture
def pii_client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    app_settings = Settings(
        database_url=database_url,
        key_file=tmp_path / "shoptrack.keys",
        commit_interval_ms=0,
        sqlite_synchronous="OFF",
    )
    with TestClient(create_app(app_settings), raise_server_exceptions=False) as client:
        yield client


FEW = settings(
    max_examples=4,
    deadline=None,
    # No shrinking: a failure already names the values; shrinking would re-send ~300 events
    # per step.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FEW
@given(email=emails, phone=phones())
@example(email="erase.me@pii.example", phone=("+380 50 123-45-67", "0501234567"))
def test_generated_emails_and_phones_are_stored_nowhere_in_the_clear(
    pii_client: TestClient, database_url: str, email: str, phone: tuple[str, str]
) -> None:
    client = pii_client
    written, national = phone
    e164 = "+" + "".join(c for c in written if c.isdigit())
    repo = services_of(client).site_repo
    site, key = repo.create("PII shop")
    events = [
        browser_event(name, payload, style=style)
        for name, style, payload in variants(email, written, national)
    ]
    page = _page(email, written, national)
    accepted = 0
    for start in range(0, len(events), 100):
        body = webevent_body(site.site_id, *events[start : start + 100], page=page)
        response = client.post(
            "/webevent", content=orjson.dumps(body), headers={"Content-Type": "text/plain"}
        )
        assert response.status_code in (200, 400), response.text
        assert found_in(response.content, email, written, e164) == []
        accepted += response.json()["accepted"]
    # Most variants are valid events (the rest are refused, and checked in rejected_events).
    assert accepted > len(events) // 2
    for name, _, payload in SHAPES:
        sections = {k: v for k, v in payload.items() if k != "GeneralInfo"}
        section_key = next(iter(sections))
        if isinstance(sections[section_key], dict):
            sections = _with_keys(sections, (section_key,), {"email": email, "tel": written})
        rest = rest_body(site.site_id, name, sections, pageUrl=page["url"], note=page["title"])
        response = client.post("/api/v2", json=rest, headers=auth(key))
        assert response.status_code == 200, response.text
        assert found_in(response.content, email, written, e164) == []
    drain(client)
    blob = stored_bytes(services_of(client).engine, database_url)
    assert len(blob) > 10_000
    assert found_in(blob, email, written, e164, national) == []
