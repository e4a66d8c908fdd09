"""The eS() API in Chromium: the loader queue, every event of the spec in both styles, batching,
wrong calls, single-page-app page views. Checked in the events the server stored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.support.server import ServerProcess
from tests.tracker.helpers import ShopServer, StoredEvents, names, shop_page, wait_until

pytestmark = pytest.mark.browser

Check = Any  # a function of one stored event that asserts what it must hold


def _has_product(key: str, **fields: Any) -> Check:
    def check(event: dict[str, Any]) -> None:
        product = event["products"][0]
        assert product["key"] == key, event
        for name, value in fields.items():
            assert product[name] == value, (name, event)

    return check


def _field(name: str, value: Any) -> Check:
    def check(event: dict[str, Any]) -> None:
        assert event[name] == value, (name, event)

    return check


def _all(*checks: Check) -> Check:
    def check(event: dict[str, Any]) -> None:
        for one in checks:
            one(event)

    return check


GUID = "6F9619FF-8B86-D011-B42D-00CF4FC964FF"

# Every call of the spec, in the order sent: (style, name, payload or None, check).
SPEC_CALLS: list[tuple[str, str, Any, Check]] = [
    ("sendEvent", "PageView", {"PageView": {}}, _field("type", "PageView")),
    (
        "sendEvent",
        "ProductPage",
        {
            "ProductPage": {
                "productKey": "24-MB02",
                "price": "153",
                "isInStock": 1,
                "tag_some_field": ["123"],
                "tag_another_field": ["321", "213"],
            }
        },
        _has_product(
            "24-MB02",
            price=153.0,
            in_stock=True,
            attributes={"some_field": ["123"], "another_field": ["321", "213"]},
        ),
    ),
    (
        "sendEventWithTags",
        "ProductPage",
        {
            "ProductPage": {
                "Product": {
                    "productKey": "72354",
                    "price": "754 USD",
                    "isInStock": "1",
                    "tag_something": ["abc", "bca"],
                },
                "Tags": {"some_tags": ["some_tag1", "some_tag2"]},
            }
        },
        _all(
            _has_product("72354", price=754.0, currency="USD", in_stock=True),
            _field("tags", {"some_tags": ["some_tag1", "some_tag2"]}),
        ),
    ),
    (
        "sendEvent",
        "StatusCart",
        {
            "StatusCart": [
                {
                    "productKey": "24-MB02",
                    "price": "153",
                    "quantity": "1",
                    "currency": "USD",
                    "tag_something": ["aaa", "bbb"],
                },
                {"productKey": "123-321", "price": "450.00", "quantity": "3", "currency": "USD"},
            ],
            "GUID": "2b914e9c-43ee-bf41-6f80-b97db1e8ab7e",
        },
        _all(
            _field("cart_guid", "2b914e9c-43ee-bf41-6f80-b97db1e8ab7e"),
            lambda e: [p["key"] for p in e["products"]] == ["24-MB02", "123-321"] or e,
        ),
    ),
    (
        "sendEventWithTags",
        "StatusCart",
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
                        "tag_something": ["aaa", "bbb"],
                    },
                    {
                        "productKey": "902339",
                        "price": 596,
                        "discount": 590,
                        "quantity": 1,
                        "price_currency_code": "UAH",
                    },
                ],
                "Tags": {"some_tags": ["1", "a2"], "some_tags1": ["4", "gg"]},
            }
        },
        _all(_field("cart_guid", GUID), _has_product("430738", price=201.95, currency="UAH")),
    ),
    (
        "sendEvent",
        "StatusCart",
        {"StatusCart": [], "GUID": "2c914e9c-43ee-bf41-6f80-b97db1e8ab7e"},
        _all(_field("products", []), _field("cart_guid", "2c914e9c-43ee-bf41-6f80-b97db1e8ab7e")),
    ),
    (
        "sendEvent",
        "PurchasedItems",
        {
            "OrderNumber": "123/2017",
            "PurchasedItems": [
                {"productKey": "24-MB02", "price": "153", "quantity": "1", "currency": "USD"}
            ],
            "Tags": {"blockId": ["19787_r119v224"]},
        },
        _all(
            _field("order_number", "123/2017"),
            _field("tags", {"blockId": ["19787_r119v224"]}),
            _has_product("24-MB02", quantity=1),
        ),
    ),
    (
        "sendEvent",
        "PurchasedItems",
        {
            "OrderNumber": "124/2017",
            "PurchasedItems": [
                {"productKey": "24-MB02", "price": "153", "quantity": "1", "currency": "USD"}
            ],
            "GUID": GUID,
        },
        _all(_field("order_number", "124/2017"), _field("cart_guid", GUID)),
    ),
    (
        "sendEventWithTags",
        "PurchasedItems",
        {
            "PurchasedItems": {
                "Products": [
                    {"product_id": "430738", "unit_price": "201.95", "quantity": 1},
                    {"product_id": "211452", "unit_price": "341.80", "quantity": 2},
                ],
                "OrderNumber": "125/2017",
                "Tags": {"block_id": ["21246_r335v507"], "some_tags1": ["4", "gg"]},
            }
        },
        _all(_field("order_number", "125/2017"), _has_product("430738", price=201.95)),
    ),
    (
        "sendEventWithTags",
        "PurchasedItems",
        {
            "PurchasedItems": {
                "GUID": GUID,
                "OrderNumber": "126/2017",
                "Tags": {"some_tags": ["1", "a2"]},
            }
        },
        # Only the GUID: the items are those of the StatusCart with that GUID.
        _all(_field("cart_guid", GUID), lambda e: len(e["products"]) == 2 or e),
    ),
    (
        "sendEvent",
        "CustomerData",
        {
            "CustomerData": {
                "externalCustomerId": "1234509876",
                "user_email": "example@email.com",
                "user_name": "Johny",
                "user_card_id": "321",
                "user_phone": "3801111111111",
                "user_city": "Gdańsk",
                "user_tags_gender": "male",
            }
        },
        _field("identified", True),
    ),
    (
        "sendEvent",
        "CategoryPage",
        {
            "CategoryPage": {"categoryKey": "509876"},
            "Tags": {"some_tags": ["gh", "a2"], "some_tags1": ["4", "gg"]},
        },
        _all(
            _field("category_key", "509876"),
            _field("tags", {"some_tags": ["gh", "a2"], "some_tags1": ["4", "gg"]}),
        ),
    ),
    (
        "sendEventWithTags",
        "CategoryPage",
        {
            "CategoryPage": {
                "Category": {"categoryKey": "509877"},
                "Tags": {"some_tags": ["1", "a2"]},
            }
        },
        _field("category_key", "509877"),
    ),
    (
        "sendEvent",
        "AddToWishlist",
        {"AddToWishlist": {"productKey": "24-MB02", "price": "153", "isInStock": 1}},
        _has_product("24-MB02", price=153.0, in_stock=True),
    ),
    (
        "sendEventWithTags",
        "AddToWishlist",
        {"AddToWishlist": {"Product": {"productKey": "24-MB03", "price": "15", "isInStock": 0}}},
        _has_product("24-MB03", in_stock=False),
    ),
    (
        "sendEvent",
        "SearchRequest",
        {"SearchRequest": {"search": "input_value", "isFound": 1}},
        _field("search", {"query": "input_value", "found": True}),
    ),
    (
        "sendEventWithTags",
        "SearchRequest",
        {"SearchRequest": {"search": "nothing here", "isFound": 0}},
        _field("search", {"query": "nothing here", "found": False}),
    ),
    ("sendEvent", "MainPage", None, _field("type", "MainPage")),
    ("sendEventWithTags", "MainPage", None, _field("type", "MainPage")),
    ("sendEvent", "NotFound", None, _field("type", "NotFound")),
    ("sendEventWithTags", "NotFound", None, _field("type", "NotFound")),
    ("sendEvent", "StatusCartPage", None, _field("type", "StatusCartPage")),
    ("sendEventWithTags", "StatusCartPage", None, _field("type", "StatusCartPage")),
    (
        "sendEvent",
        "ProductImpressions",
        {"ProductImpression": [{"product_id": "430968", "container_type": "1253_r963v1317"}]},
        _all(_field("type", "ProductImpression"), _has_product("430968", block="1253_r963v1317")),
    ),
    (
        "sendEventWithTags",
        "ProductImpression",
        {
            "ProductImpression": {
                "Products": [
                    {"product_id": "430968", "container_type": "1253_r963v1317"},
                    {"product_id": "430738", "container_type": "1253_r963v1317"},
                    {"product_id": "429983", "container_type": "1253_r963v1317"},
                ],
                "Tags": {"some_tags": ["1", "a2"]},
            }
        },
        lambda e: len(e["products"]) == 3 or e,
    ),
    ("sendEventWithTags", "PageView", {"PageView": {}}, _field("type", "PageView")),
]


def _loaded(page: Any) -> None:
    page.wait_for_function("window.eS && window.eS.shoptrack === true")


def _webevent_posts(page: Any) -> list[Any]:
    posts: list[Any] = []
    page.on(
        "request",
        lambda r: posts.append(r) if r.method == "POST" and r.url.endswith("/webevent") else None,
    )
    return posts


def test_queued_calls_replay_in_order_then_eS_is_the_real_function(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
) -> None:
    calls = """
    eS('sendEvent', 'MainPage');
    eS('sendEvent', 'CategoryPage', {CategoryPage: {categoryKey: 'first'}});
    eS('sendEventWithTags', 'SearchRequest', {SearchRequest: {search: 'second', isFound: 1}});
    window.queuedBeforeLoad = window.eS.q.length;
    """
    url = shop.add(
        "/replay", shop_page(collector.url, shop_site[0], calls, init={"TRACKING": False})
    )
    page.goto(url)
    _loaded(page)
    assert page.evaluate("window.queuedBeforeLoad") == 4  # init + three events were queued
    assert page.evaluate("typeof window.eS.q") == "undefined"
    page.evaluate("eS('sendEvent', 'NotFound')")
    events = stored.wait(count=5)
    assert names(events) == ["PageView", "MainPage", "CategoryPage", "SearchRequest", "NotFound"]
    assert events[2]["category_key"] == "first"
    assert events[3]["style"] == "sendEventWithTags"
    page_url = events[0]["page"]["url"]
    assert page_url == url and events[0]["page"]["title"] == "Test shop"
    # One visitor and one session for the page, as the tracker named them.
    assert len({e["visitor_id"] for e in events}) == 1
    assert len({e["session_id"] for e in events}) == 1


def test_every_event_of_the_spec_in_both_styles_arrives_in_one_request(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
) -> None:
    url = shop.add("/all", shop_page(collector.url, shop_site[0], init={"TRACKING": False}))
    page.goto(url)
    _loaded(page)
    stored.wait(count=1)  # the automatic PageView
    posts = _webevent_posts(page)
    script = "\n".join(
        f"eS({json.dumps(style)}, {json.dumps(name)}"
        + (f", {json.dumps(payload)});" if payload is not None else ");")
        for style, name, payload, _ in SPEC_CALLS
    )
    page.evaluate(f"() => {{ {script} }}")
    events = stored.wait(count=1 + len(SPEC_CALLS))[1:]
    assert len(events) == len(SPEC_CALLS), names(events)
    for (style, name, _, check), event in zip(SPEC_CALLS, events, strict=True):
        assert (event["style"], event["name"]) == (style, name)
        result = check(event)
        assert result in (None, True), f"{style} {name}: {result}"
    wait_until(lambda: posts, what="the request", page=page)
    assert len(posts) == 1, "events of the same tick must leave in one request"
    body = json.loads(posts[0].post_data)
    assert posts[0].headers["content-type"].startswith("text/plain")
    assert body["v"] == 1 and body["site_id"] == shop_site[0]
    assert len(body["events"]) == len(SPEC_CALLS)
    assert len({e["id"] for e in body["events"]}) == len(SPEC_CALLS)
    # Contact data is only ever stored encrypted, never in the event JSON.
    raw = stored.raw()
    assert "example@email.com" not in raw and "3801111111111" not in raw


def test_wrong_calls_never_throw_and_debug_explains(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
) -> None:
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    url = shop.add(
        "/wrong", shop_page(collector.url, shop_site[0], "eS('bogus');", init={"debug": True})
    )
    page.goto(url)
    _loaded(page)
    outcome = page.evaluate(
        """() => {
        const cyclic = {}; cyclic.self = cyclic;
        eS(); eS(42); eS('nope', 1); eS('init', 'yes');
        eS('init', {unknownOption: 1, maxQueue: '9'});
        eS('sendEvent'); eS('sendEvent', 7); eS('sendEvent', 'ProductPage', 'not an object');
        eS('sendEvent', 'ProductPage', [1, 2]); eS('sendEvent', 'ProductPage', cyclic);
        eS('sendEvent', 'toString'); eS('constructor'); eS('__proto__');
        eS('sendEvent', 'MainPage');
        return 'still running';
    }"""
    )
    assert outcome == "still running"
    done = {"value": None}
    page.evaluate(
        "() => new Promise(r => eS('getRecommendations', {variantId: 'r1v1'},"
        " (error, products) => { window.recs = [error, products]; r(); }))"
    )
    done["value"] = page.evaluate("window.recs")
    assert isinstance(done["value"][0], str) and done["value"][1] == []
    events = stored.wait(lambda evs: "MainPage" in names(evs))
    # The unknown event name goes out (the server keeps refused events with their reason).
    assert names(events)[0] == "PageView"
    text = "\n".join(messages)
    for expected in (
        "unknown command",
        "needs an event name",
        "the payload must be an object",
        "cannot be sent as JSON",
        "unknown option unknownOption",
        "maxQueue must be a number",
        "init takes an object",
        "not an event of the spec",
    ):
        assert expected in text, f"debug console lacks {expected!r}:\n{text}"


def test_no_console_output_without_debug(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
) -> None:
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    url = shop.add("/quiet", shop_page(collector.url, shop_site[0], "eS('bogus', 1);"))
    page.goto(url)
    _loaded(page)
    page.evaluate("eS('sendEvent')")
    stored.wait(count=1)
    assert [m for m in messages if "shoptrack" in m] == []


def test_spa_navigation_sends_page_views_only_when_enabled(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
) -> None:
    spa = shop.add("/spa", shop_page(collector.url, shop_site[0], init={"spa": True}))
    page.goto(spa)
    _loaded(page)
    page.evaluate("history.pushState({}, '', '/spa/product?sc_content=1_r2v3')")
    page.evaluate("history.replaceState({}, '', '/spa/product?sc_content=1_r2v3')")  # same URL
    page.evaluate("history.pushState({}, '', '/spa/cart')")
    page.go_back()
    events = stored.wait(count=4)
    urls = [e["page"]["url"].removeprefix(shop.url) for e in events if e["type"] == "PageView"]
    assert urls == [
        "/spa",
        "/spa/product?sc_content=1_r2v3",
        "/spa/cart",
        "/spa/product?sc_content=1_r2v3",
    ]
    assert events[2]["page"]["referrer"] == shop.url + "/spa/product?sc_content=1_r2v3"

    plain = shop.add("/no-spa", shop_page(collector.url, shop_site[0]))
    page.goto(plain)
    _loaded(page)
    page.evaluate("history.pushState({}, '', '/no-spa/next')")
    page.evaluate("eS('sendEvent', 'MainPage')")
    later = stored.wait(lambda evs: "MainPage" in names(evs))
    assert names(later[4:]) == ["PageView", "MainPage"]
