"""Every example shape of the spec, in both call styles, reads into the same canonical event.

The events go through the collector's real steps (identity → normalize → validate → enrich) via
:func:`build_event`, and the assertions are on :meth:`CanonicalEvent.to_json`, the shape that
is stored and served.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shoptrack.collector.enrich import Sessionizer
from shoptrack.collector.pipeline import IncomingEvent, PipelineConfig, RequestMeta, build_event
from shoptrack.collector.wire import read_rest_event
from shoptrack.errors import EventRejected, Reason, ShoptrackError
from shoptrack.events.model import Page, iso_ms
from shoptrack.events.normalize import KEY_NAMES, PRICE_NAMES, QUANTITY_NAMES, pick
from shoptrack.identity.crypto import Keyring

SITE = "shop-1"
NOW_MS = 1_764_000_000_000
KEYRING = Keyring.generate()
CONFIG = PipelineConfig(max_future_ms=300_000, max_browser_age_ms=7 * 86_400_000)
STYLES = ["sendEvent", "sendEventWithTags"]
GUID = "6F9619FF-8B86-D011-B42D-00CF4FC964FF"


def browser(
    name: str, payload: Any = None, *, style: str = "sendEvent", url: str | None = None
) -> dict[str, Any]:
    """The canonical JSON of one event as the browser tracker would send it."""
    incoming = IncomingEvent(
        site_id=SITE,
        name=name,
        payload=payload,
        source="browser",
        style=style,
        event_id="e-1",
        client_time_ms=NOW_MS,
        visitor_id="visitor-1",
        session_id="session-1",
        page=Page(url=url),
    )
    meta = RequestMeta(received_ms=NOW_MS, ip=None, user_agent=None)
    return build_event(incoming, meta, CONFIG, KEYRING, Sessionizer(1_800_000)).to_json()


def rest(name: str, sections: dict[str, Any], *, authenticated: bool = False) -> dict[str, Any]:
    """The canonical JSON of one server-side event (platform-notes §1)."""
    body = {
        "GeneralInfo": {
            "eventName": name,
            "siteId": SITE,
            "datetime": NOW_MS - 1000,
            "cookies": {"sc": "visitor-rest"},
        },
        **sections,
    }
    candidate = read_rest_event(
        body, site_id_from_key=None, authenticated=authenticated, check_strings=True
    )
    assert candidate.incoming is not None, candidate.error
    meta = RequestMeta(received_ms=NOW_MS, ip=None, user_agent=None)
    event = build_event(candidate.incoming, meta, CONFIG, KEYRING, Sessionizer(1_800_000))
    return event.to_json()


def product(
    key: str,
    price: float | None = None,
    currency: str | None = None,
    quantity: float | None = None,
    discount: float | None = None,
    in_stock: bool | None = None,
    block: str | None = None,
    attributes: dict[str, list[str]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A canonical product: exactly these fields, ``extra`` only when something was extra."""
    out: dict[str, Any] = {
        "key": key,
        "price": price,
        "currency": currency,
        "quantity": quantity,
        "discount": discount,
        "in_stock": in_stock,
        "block": block,
        "attributes": attributes or {},
    }
    if extra:
        out["extra"] = extra
    return out


def rejected(name: str, payload: Any, *, style: str = "sendEvent") -> ShoptrackError:
    with pytest.raises(ShoptrackError) as caught:
        browser(name, payload, style=style)
    return caught.value


def assert_nothing_else(event: dict[str, Any], **expected: Any) -> None:
    """The canonical fields not named in ``expected`` are empty."""
    empty: dict[str, Any] = {
        "products": [],
        "cart_guid": None,
        "order_number": None,
        "category_key": None,
        "search": None,
        "tags": {},
        "location": None,
    }
    for name, value in {**empty, **expected}.items():
        assert event[name] == value, name


# --- PageView and the payload-less events -----------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("name", ["MainPage", "NotFound", "StatusCartPage", "PageView"])
@pytest.mark.parametrize("payload", [None, {}], ids=["no-payload", "empty-payload"])
def test_events_without_payload_are_valid(name: str, style: str, payload: Any) -> None:
    event = browser(name, payload, style=style)
    assert event["type"] == name
    assert event["style"] == style
    assert_nothing_else(event)


@pytest.mark.parametrize("style", STYLES)
def test_page_view_with_its_empty_section(style: str) -> None:
    # eS('sendEvent', 'PageView', {'PageView': { }})
    event = browser("PageView", {"PageView": {}}, style=style)
    assert event["type"] == "PageView"
    assert_nothing_else(event)


# --- ProductPage ----------------------------------------------------------------------------


def test_product_page_send_event_shape() -> None:
    event = browser(
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
    )
    assert event["type"] == "ProductPage"
    assert_nothing_else(
        event,
        products=[
            product(
                "24-MB02",
                price=153.0,
                in_stock=True,
                attributes={"some_field": ["123"], "another_field": ["321", "213"]},
            )
        ],
    )


def test_product_page_send_event_with_tags_shape() -> None:
    event = browser(
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
        style="sendEventWithTags",
    )
    assert_nothing_else(
        event,
        products=[
            product(
                "72354",
                price=754.0,
                currency="USD",
                in_stock=True,
                attributes={"something": ["abc", "bca"]},
            )
        ],
        tags={"some_tags": ["some_tag1", "some_tag2"]},
    )


def test_product_page_with_visitor_data_and_s_location() -> None:
    # The "Site Visitor Data" example, plus the s_location a recommendation block's link gives.
    event = browser(
        "ProductPage",
        {
            "GeneralInfo": {
                "externalCustomerId": "1234509876",
                "user_email": "example@email.com",
                "user_phone": "380501234567",
                "user_es_contact_id": 100500,
                "s_location": "19534_r24v435",
            },
            "ProductPage": {"productKey": "24-WG02"},
        },
    )
    assert_nothing_else(event, products=[product("24-WG02")], location="19534_r24v435")
    assert event["identified"] is True


@pytest.mark.parametrize("style", STYLES)
def test_product_page_without_product_key_names_product_key(style: str) -> None:
    error = rejected("ProductPage", {"ProductPage": {"price": "153", "isInStock": 1}}, style=style)
    assert error.code == Reason.MISSING_FIELD
    assert error.field == "ProductPage.productKey"


def test_product_page_with_tags_shape_names_the_field_inside_product() -> None:
    error = rejected(
        "ProductPage", {"ProductPage": {"Product": {"price": "1"}}}, style="sendEventWithTags"
    )
    assert error.field == "ProductPage.Product.productKey"
    error = rejected(
        "ProductPage",
        {"ProductPage": {"Product": {"productKey": "1", "price": "junk"}}},
        style="sendEventWithTags",
    )
    assert error.code == Reason.INVALID_VALUE
    assert error.field == "ProductPage.Product.price"


def test_product_page_flat_payload_is_read_too() -> None:
    # A shape the spec did not foresee but with the same fields: read the same way.
    event = browser("ProductPage", {"productKey": "24-MB02", "price": 153, "isInStock": "0"})
    assert event["products"] == [product("24-MB02", price=153.0, in_stock=False)]


# --- StatusCart -----------------------------------------------------------------------------


def test_status_cart_send_event_shape() -> None:
    event = browser(
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
    )
    assert_nothing_else(
        event,
        products=[
            product(
                "24-MB02",
                price=153.0,
                currency="USD",
                quantity=1,
                attributes={"something": ["aaa", "bbb"]},
            ),
            product("123-321", price=450.0, currency="USD", quantity=3),
        ],
        cart_guid="2b914e9c-43ee-bf41-6f80-b97db1e8ab7e",
    )


def test_status_cart_send_event_with_tags_shape() -> None:
    event = browser(
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
                        "tag_something": ["aaa", "bbb"],
                    },
                ],
                "Tags": {"some_tags": ["1", "a2"], "some_tags1": ["4", "gg"]},
            }
        },
        style="sendEventWithTags",
    )
    attributes = {"something": ["aaa", "bbb"]}
    assert_nothing_else(
        event,
        products=[
            product("430738", 201.95, "UAH", 1, discount=180.0, attributes=attributes),
            product("902339", 596.0, "UAH", 1, discount=590.0, attributes=attributes),
        ],
        cart_guid=GUID,
        tags={"some_tags": ["1", "a2"], "some_tags1": ["4", "gg"]},
    )


@pytest.mark.parametrize("style", STYLES)
def test_empty_cart_is_valid_with_its_guid(style: str) -> None:
    guid = "2c914e9c-43ee-bf41-6f80-b97db1e8ab7e"
    sendevent = {"StatusCart": [], "GUID": guid}
    with_tags = {"StatusCart": {"GUID": guid, "Products": []}}
    event = browser("StatusCart", sendevent if style == "sendEvent" else with_tags, style=style)
    assert_nothing_else(event, cart_guid=guid)


def test_numbers_as_strings_and_as_numbers_give_the_same_cart() -> None:
    as_strings = browser(
        "StatusCart",
        {"StatusCart": [{"productKey": "1", "price": "9.50", "quantity": "2"}], "GUID": "g"},
    )
    as_numbers = browser(
        "StatusCart",
        {"StatusCart": [{"productKey": 1, "price": 9.5, "quantity": 2}], "GUID": "g"},
    )
    assert as_strings["products"] == as_numbers["products"] == [product("1", 9.5, quantity=2)]


@pytest.mark.parametrize(
    "payload",
    [
        {"StatusCart": [{"productKey": "1", "price": "1", "quantity": "1"}]},
        {"StatusCart": {"Products": [{"productKey": "1", "price": "1", "quantity": "1"}]}},
        {"StatusCart": [], "GUID": ""},
    ],
    ids=["send-event", "with-tags", "blank"],
)
def test_status_cart_without_guid_names_guid(payload: dict[str, Any]) -> None:
    error = rejected("StatusCart", payload)
    assert error.code == Reason.MISSING_FIELD
    assert error.field == "StatusCart.GUID"


@pytest.mark.parametrize(
    ("missing", "field"),
    [("productKey", "productKey"), ("price", "price"), ("quantity", "quantity")],
)
@pytest.mark.parametrize("style", STYLES)
def test_each_cart_item_needs_key_price_and_quantity(missing: str, field: str, style: str) -> None:
    good = {"productKey": "1", "price": "1", "quantity": "1"}
    bad = {k: v for k, v in good.items() if k != missing}
    if style == "sendEvent":
        payload: dict[str, Any] = {"StatusCart": [good, bad], "GUID": "g"}
        expected = f"StatusCart[1].{field}"
    else:
        payload = {"StatusCart": {"GUID": "g", "Products": [good, bad]}}
        expected = f"StatusCart.Products[1].{field}"
    error = rejected("StatusCart", payload, style=style)
    assert error.code == Reason.MISSING_FIELD
    assert error.field == expected


def test_a_guid_longer_than_the_log_column_is_refused() -> None:
    error = rejected("StatusCart", {"StatusCart": [], "GUID": "g" * 129})
    assert error.field == "StatusCart.GUID"


def test_tags_inside_a_cart_item_are_kept_as_event_tags() -> None:
    # "Tags objects become tags, wherever the page put them": never silently dropped.
    event = browser(
        "StatusCart",
        {
            "StatusCart": [
                {"productKey": "1", "price": 1, "quantity": 1, "Tags": {"size": ["M"]}},
            ],
            "GUID": "g",
        },
    )
    assert event["tags"] == {"size": ["M"]}
    assert event["products"] == [product("1", 1.0, quantity=1)]


# --- PurchasedItems -------------------------------------------------------------------------


def test_purchase_in_one_click_send_event_shape() -> None:
    event = browser(
        "PurchasedItems",
        {
            "OrderNumber": "123/2017",
            "PurchasedItems": [
                {"productKey": "24-MB02", "price": "153", "quantity": "1", "currency": "USD"}
            ],
            "Tags": {"blockId": ["19787_r119v224"]},
        },
    )
    assert_nothing_else(
        event,
        products=[product("24-MB02", 153.0, "USD", 1)],
        order_number="123/2017",
        tags={"blockId": ["19787_r119v224"]},
    )


def test_purchase_send_event_with_tags_shape_uses_product_id_and_unit_price() -> None:
    event = browser(
        "PurchasedItems",
        {
            "PurchasedItems": {
                "Products": [
                    {"product_id": "430738", "unit_price": "201.95", "quantity": 1},
                    {"product_id": "211452", "unit_price": "341.80", "quantity": 2},
                ],
                "OrderNumber": "123/2017",
                "Tags": {"block_id": ["21246_r335v507"], "some_tags1": ["4", "gg"]},
            }
        },
        style="sendEventWithTags",
    )
    assert_nothing_else(
        event,
        products=[product("430738", 201.95, quantity=1), product("211452", 341.8, quantity=2)],
        order_number="123/2017",
        tags={"block_id": ["21246_r335v507"], "some_tags1": ["4", "gg"]},
    )


def test_purchase_from_the_site_send_event_shape_keeps_the_guid() -> None:
    event = browser(
        "PurchasedItems",
        {
            "OrderNumber": "123/2017",
            "PurchasedItems": [
                {"productKey": "24-MB02", "price": "153", "quantity": "1", "currency": "USD"}
            ],
            "GUID": GUID,
        },
    )
    assert_nothing_else(
        event,
        products=[product("24-MB02", 153.0, "USD", 1)],
        order_number="123/2017",
        cart_guid=GUID,
    )


def test_purchase_with_only_a_guid_is_valid_and_waits_for_the_cart_items() -> None:
    # The collector copies the items of the StatusCart with this GUID (tested over HTTP).
    event = browser(
        "PurchasedItems",
        {
            "PurchasedItems": {
                "GUID": GUID,
                "OrderNumber": "123/2017",
                "Tags": {"some_tags": ["1", "a2"], "some_tags1": ["4", "gg"]},
            }
        },
        style="sendEventWithTags",
    )
    assert_nothing_else(
        event,
        order_number="123/2017",
        cart_guid=GUID,
        tags={"some_tags": ["1", "a2"], "some_tags1": ["4", "gg"]},
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"PurchasedItems": [{"productKey": "1", "price": "1", "quantity": "1"}]},
        {"PurchasedItems": {"Products": [{"product_id": "1", "unit_price": "1", "quantity": 1}]}},
    ],
    ids=STYLES,
)
def test_purchase_without_order_number_names_order_number(payload: dict[str, Any]) -> None:
    error = rejected("PurchasedItems", payload)
    assert error.code == Reason.MISSING_FIELD
    assert error.field == "OrderNumber"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"OrderNumber": "1"}, "PurchasedItems"),
        ({"OrderNumber": "1", "PurchasedItems": []}, "PurchasedItems"),
        ({"PurchasedItems": {"OrderNumber": "1"}}, "PurchasedItems.Products"),
    ],
    ids=["nothing", "empty-list", "with-tags"],
)
def test_purchase_needs_items_or_a_guid(payload: dict[str, Any], field: str) -> None:
    error = rejected("PurchasedItems", payload)
    assert error.code == Reason.MISSING_FIELD
    assert error.field == field
    assert "GUID" in error.message


def test_purchase_item_needs_price_and_quantity() -> None:
    error = rejected(
        "PurchasedItems",
        {"OrderNumber": "1", "PurchasedItems": [{"product_id": "1", "quantity": 1}]},
    )
    assert error.field == "PurchasedItems[0].price"


# --- CustomerData ---------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_customer_data_is_valid_and_keeps_nothing_personal(style: str) -> None:
    event = browser(
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
        style=style,
    )
    assert event["type"] == "CustomerData"
    assert event["identified"] is True
    assert_nothing_else(event)


def test_customer_data_without_any_identifier_is_refused() -> None:
    error = rejected("CustomerData", {"CustomerData": {"user_city": "Gdańsk"}})
    assert error.code == Reason.MISSING_FIELD
    assert error.field == "CustomerData.user_email"


# --- CategoryPage ---------------------------------------------------------------------------

TAGS = {"some_tags": ["gh", "a2"], "some_tags1": ["4", "gg"]}


def test_category_page_send_event_shape_with_tags_beside() -> None:
    event = browser("CategoryPage", {"CategoryPage": {"categoryKey": "509876"}, "Tags": TAGS})
    assert_nothing_else(event, category_key="509876", tags=TAGS)


def test_category_page_send_event_with_tags_shape_with_tags_inside() -> None:
    event = browser(
        "CategoryPage",
        {"CategoryPage": {"Category": {"categoryKey": "509876"}, "Tags": TAGS}},
        style="sendEventWithTags",
    )
    assert_nothing_else(event, category_key="509876", tags=TAGS)


@pytest.mark.parametrize(
    "payload",
    [{"CategoryPage": {}}, {"CategoryPage": {"Category": {}, "Tags": TAGS}}],
    ids=STYLES,
)
def test_category_page_without_category_key_names_it(payload: dict[str, Any]) -> None:
    error = rejected("CategoryPage", payload)
    assert error.code == Reason.MISSING_FIELD
    assert error.field is not None
    assert error.field.endswith("categoryKey")


# --- AddToWishlist --------------------------------------------------------------------------


def test_add_to_wishlist_send_event_shape() -> None:
    event = browser(
        "AddToWishlist",
        {"AddToWishlist": {"productKey": "24-MB02", "price": "153", "isInStock": 1}},
    )
    assert_nothing_else(event, products=[product("24-MB02", 153.0, in_stock=True)])


def test_add_to_wishlist_send_event_with_tags_shape() -> None:
    event = browser(
        "AddToWishlist",
        {
            "AddToWishlist": {
                "Product": {"productKey": "24-MB02", "price": "153", "isInStock": "0"},
                "Tags": {"list": ["summer"]},
            }
        },
        style="sendEventWithTags",
    )
    assert_nothing_else(
        event, products=[product("24-MB02", 153.0, in_stock=False)], tags={"list": ["summer"]}
    )


def test_add_to_wishlist_without_product_key_names_it() -> None:
    error = rejected("AddToWishlist", {"AddToWishlist": {"price": "153"}})
    assert error.field == "AddToWishlist.productKey"


# --- SearchRequest --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("found", "expected"), [(1, True), (0, False), ("1", True), ("", None), (None, None)]
)
def test_search_request_reads_query_and_found(found: Any, expected: bool | None) -> None:
    section: dict[str, Any] = {"search": "input_value"}
    if found is not None:
        section["isFound"] = found
    event = browser("SearchRequest", {"SearchRequest": section})
    assert_nothing_else(event, search={"query": "input_value", "found": expected})


def test_search_request_send_event_with_tags_shape() -> None:
    event = browser(
        "SearchRequest",
        {"SearchRequest": {"search": "Coffe", "isFound": 0, "Tags": {"source": ["header"]}}},
        style="sendEventWithTags",
    )
    assert_nothing_else(
        event, search={"query": "Coffe", "found": False}, tags={"source": ["header"]}
    )


@pytest.mark.parametrize("style", STYLES)
def test_search_request_without_search_names_search(style: str) -> None:
    error = rejected("SearchRequest", {"SearchRequest": {"isFound": 1}}, style=style)
    assert error.code == Reason.MISSING_FIELD
    assert error.field == "SearchRequest.search"


# --- ProductImpression(s) -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ProductImpressions", "ProductImpression"])
def test_impressions_send_event_shape_under_either_name(name: str) -> None:
    event = browser(
        name, {"ProductImpression": [{"product_id": "430968", "container_type": "1253_r963v1317"}]}
    )
    assert event["type"] == "ProductImpression"
    assert event["name"] == name
    assert_nothing_else(event, products=[product("430968", block="1253_r963v1317")])


@pytest.mark.parametrize("section", ["ProductImpression", "ProductImpressions"])
def test_impressions_send_event_with_tags_shape(section: str) -> None:
    block = "1253_r963v1317"
    event = browser(
        "ProductImpression",
        {
            section: {
                "Products": [
                    {"product_id": "430968", "container_type": block},
                    {"product_id": "430738", "container_type": block},
                    {"product_id": "429983", "container_type": block},
                ],
                "Tags": {"some_tags": ["1", "a2"], "some_tags1": ["4", "gg"]},
            }
        },
        style="sendEventWithTags",
    )
    assert_nothing_else(
        event,
        products=[product(key, block=block) for key in ("430968", "430738", "429983")],
        tags={"some_tags": ["1", "a2"], "some_tags1": ["4", "gg"]},
    )


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"container_type": "1253_r963v1317"}, "ProductImpression[0].product_id"),
        ({"product_id": "430968"}, "ProductImpression[0].container_type"),
    ],
)
def test_impression_needs_product_id_and_container_type(item: dict[str, Any], field: str) -> None:
    error = rejected("ProductImpressions", {"ProductImpression": [item]})
    assert error.code == Reason.MISSING_FIELD
    assert error.field == field


# --- General reading rules ------------------------------------------------------------------


def test_product_key_and_product_id_are_the_same_key() -> None:
    by_key = browser("ProductPage", {"ProductPage": {"productKey": "A-1"}})
    by_id = browser("ProductPage", {"ProductPage": {"product_id": "A-1"}})
    assert by_key["products"] == by_id["products"] == [product("A-1")]


def test_tags_beside_and_inside_the_section_read_the_same() -> None:
    beside = browser("CategoryPage", {"CategoryPage": {"categoryKey": "7"}, "Tags": TAGS})
    inside = browser("CategoryPage", {"CategoryPage": {"categoryKey": "7", "Tags": TAGS}})
    assert beside["tags"] == inside["tags"] == TAGS


def test_unknown_fields_are_kept_not_refused() -> None:
    event = browser(
        "ProductPage",
        {"ProductPage": {"productKey": "1", "color": "red"}, "campaign": "spring"},
    )
    assert event["products"] == [product("1", extra={"color": "red"})]
    assert event["payload"]["campaign"] == "spring"


def test_sc_content_of_the_page_url_is_the_location() -> None:
    event = browser(
        "ProductPage",
        {"ProductPage": {"productKey": "1"}},
        url="https://shop.example/p/1?sc_content=19534_r24v435&utm_source=x",
    )
    assert event["location"] == "19534_r24v435"


def test_s_location_in_general_info_wins_over_the_url() -> None:
    event = browser(
        "ProductPage",
        {"GeneralInfo": {"s_location": "1_r1v1"}, "ProductPage": {"productKey": "1"}},
        url="https://shop.example/p/1?sc_content=2_r2v2",
    )
    assert event["location"] == "1_r1v1"


@pytest.mark.parametrize("payload", [["x"], "x", 5])
def test_a_payload_that_is_not_an_object_is_refused(payload: Any) -> None:
    error = rejected("ProductPage", payload)
    assert isinstance(error, EventRejected)
    assert error.field == "payload"


def test_unknown_event_name_is_refused_naming_the_name_field() -> None:
    error = rejected("ProductView", {"ProductPage": {"productKey": "1"}})
    assert error.code == Reason.UNKNOWN_EVENT
    assert error.field == "name"


def test_product_update_from_a_browser_needs_the_api_key() -> None:
    error = rejected(
        "ProductUpdate", {"ProductUpdate": [{"product_id": "1", "unit_price": 1, "isInStock": 1}]}
    )
    assert error.status == 401


# --- REST shapes (platform-notes §1) --------------------------------------------------------


def test_rest_product_page() -> None:
    event = rest(
        "ProductPage",
        {
            "ProductPage": {
                "Product": {"productKey": "72354", "price": "754 USD", "isInStock": "1"},
                "Tags": {"some_tags": ["a"]},
            }
        },
    )
    assert event["source"] == "rest"
    assert event["visitor_id"] == "visitor-rest"
    # GeneralInfo.datetime is when it happened (within the trusted bound).
    assert event["occurred_at"] == iso_ms(NOW_MS - 1000)
    assert_nothing_else(
        event,
        products=[product("72354", 754.0, "USD", in_stock=True)],
        tags={"some_tags": ["a"]},
    )


def test_rest_status_cart() -> None:
    event = rest(
        "StatusCart",
        {
            "StatusCart": {
                "GUID": GUID,
                "Products": [
                    {
                        "productKey": "430738",
                        "price": "201.95",
                        "discount": 180,
                        "quantity": "1",
                        "price_currency_code": "UAH",
                        "tag_color": ["red"],
                    }
                ],
                "Tags": {"t": ["1"]},
            }
        },
    )
    assert_nothing_else(
        event,
        products=[
            product("430738", 201.95, "UAH", 1, discount=180.0, attributes={"color": ["red"]})
        ],
        cart_guid=GUID,
        tags={"t": ["1"]},
    )


def test_rest_purchased_items() -> None:
    event = rest(
        "PurchasedItems",
        {
            "PurchasedItems": {
                "Products": [{"product_id": "430738", "unit_price": 201.95, "quantity": "2"}],
                "OrderNumber": "A-77",
                "GUID": GUID,
                "Tags": {"blockId": ["19787_r119v224"]},
            }
        },
    )
    assert_nothing_else(
        event,
        products=[product("430738", 201.95, quantity=2)],
        order_number="A-77",
        cart_guid=GUID,
        tags={"blockId": ["19787_r119v224"]},
    )


def test_rest_product_impressions() -> None:
    event = rest(
        "ProductImpressions",
        {"ProductImpression": {"Products": [{"product_id": "1", "container_type": "9_r1v2"}]}},
    )
    assert event["type"] == "ProductImpression"
    assert_nothing_else(event, products=[product("1", block="9_r1v2")])


def test_rest_category_search_and_wishlist() -> None:
    category = rest("CategoryPage", {"CategoryPage": {"Category": {"categoryKey": "Shoes"}}})
    assert_nothing_else(category, category_key="Shoes")
    search = rest("SearchRequest", {"SearchRequest": {"search": "coffee", "isFound": 0}})
    assert_nothing_else(search, search={"query": "coffee", "found": False})
    wishlist = rest(
        "AddToWishlist",
        {"AddToWishlist": {"Product": {"productKey": "9", "price": 10, "isInStock": 1}}},
    )
    assert_nothing_else(wishlist, products=[product("9", 10.0, in_stock=True)])


def test_rest_customer_data_is_general_info_only() -> None:
    body = {
        "GeneralInfo": {
            "eventName": "CustomerData",
            "siteId": SITE,
            "user_email": "someone@example.com",
            "user_name": "Someone",
        }
    }
    candidate = read_rest_event(
        body, site_id_from_key=None, authenticated=False, check_strings=True
    )
    assert candidate.incoming is not None
    meta = RequestMeta(received_ms=NOW_MS, ip=None, user_agent=None)
    event = build_event(candidate.incoming, meta, CONFIG, KEYRING, Sessionizer(1_800_000))
    assert event.identity == {"user_email": "someone@example.com", "user_name": "Someone"}
    assert "someone@example.com" not in str(event.to_json())
    # No cookie: a pseudonymous visitor from the identity, the same for every event of it.
    assert event.visitor_id is not None
    assert event.visitor_id.startswith("id-")


PRODUCT_UPDATE_ITEM = {
    "product_id": "430738",
    "unit_price": "201.95",
    "isInStock": 1,
    "name": "Kettle",
    "description": "A kettle",
    "imgurl": "https://shop.example/k.jpg",
    "url": "https://shop.example/k",
    "brand": "Acme",
    "category": "Kitchen > Kettles",
    "category_id": ["12", "34"],
    "price_currency_code": "UAH",
    "tag_color": ["white"],
}


def test_rest_product_update_reads_every_documented_field() -> None:
    event = rest("ProductUpdate", {"ProductUpdate": [PRODUCT_UPDATE_ITEM]}, authenticated=True)
    assert event["type"] == "ProductUpdate"
    extra = {
        k: PRODUCT_UPDATE_ITEM[k]
        for k in ("name", "description", "imgurl", "url", "brand", "category", "category_id")
    }
    assert event["products"] == [
        product(
            "430738", 201.95, "UAH", in_stock=True, attributes={"color": ["white"]}, extra=extra
        )
    ]


def test_rest_product_update_with_products_inside_the_section() -> None:
    event = rest(
        "ProductUpdate",
        {"ProductUpdate": {"Products": [{"product_id": "1", "unit_price": 5, "isInStock": "0"}]}},
        authenticated=True,
    )
    assert event["products"] == [product("1", 5.0, in_stock=False)]


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"product_id": "1", "unit_price": 5}, "ProductUpdate[0].isInStock"),
        ({"unit_price": 5, "isInStock": 1}, "ProductUpdate[0].product_id"),
    ],
)
def test_rest_product_update_required_fields(item: dict[str, Any], field: str) -> None:
    with pytest.raises(EventRejected) as caught:
        rest("ProductUpdate", {"ProductUpdate": [item]}, authenticated=True)
    assert caught.value.code == Reason.MISSING_FIELD
    assert caught.value.field == field


def test_rest_product_update_without_the_api_key_is_unauthorized() -> None:
    with pytest.raises(ShoptrackError) as caught:
        rest("ProductUpdate", {"ProductUpdate": [PRODUCT_UPDATE_ITEM]}, authenticated=False)
    assert caught.value.status == 401


# --- the two ways pick() matches names case-insensitively agree ---------------------------
_SPELLINGS = st.sampled_from(
    [
        "productKey",
        "PRODUCTKEY",
        "productkey",
        "product_id",
        "Product_ID",
        "price",
        "PRICE",
        "unitPrice",
        "unit_price",
        "qty",
        "Quantity",
        "other",
        "tag_color",
    ]
)


@given(st.lists(st.tuples(_SPELLINGS, st.integers()), max_size=8))
def test_pick_with_a_lowered_key_map_picks_what_the_key_scan_picks(
    entries: list[tuple[str, int]],
) -> None:
    obj = dict(entries)
    lowered = {key.lower(): key for key in obj}
    for names in (KEY_NAMES, PRICE_NAMES, QUANTITY_NAMES, ("discount",)):
        assert pick(obj, names, lowered) == pick(obj, names)


@pytest.mark.parametrize("ms", [0, 7, 999, 1_000, 1_732_670_000_123, -1])
def test_iso_ms_writes_three_digits_of_milliseconds(ms: int) -> None:
    from datetime import UTC, datetime

    expected = datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
    assert iso_ms(ms) == expected.replace("+00:00", "Z")
