"""The loosely typed values real shops send: prices, quantities, flags, currencies, keys, tags.

Every refusal must be an :class:`EventRejected` whose ``field`` is the path it was given, so the
400 answer names what to fix.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from shoptrack.errors import EventRejected, Reason
from shoptrack.events.values import (
    normalize_tags,
    parse_currency,
    parse_flag,
    parse_key,
    parse_price,
    parse_quantity,
    tag_values,
)

FIELD = "StatusCart.Products[0].price"


def _refused(call: Any, value: Any, field: str = FIELD, **kwargs: Any) -> EventRejected:
    with pytest.raises(EventRejected) as caught:
        call(value, field, **kwargs)
    assert caught.value.field == field
    assert field in caught.value.message
    return caught.value


# --- prices ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # The spec's own examples.
        ("754 USD", (754.0, "USD")),
        ("450.00", (450.0, None)),
        (201.95, (201.95, None)),
        (596, (596.0, None)),
        ("153", (153.0, None)),
        ("21.70", (21.7, None)),
        # What real shops send beside them.
        ("1 234,50", (1234.5, None)),
        ("1\u00a0234,50", (1234.5, None)),
        ("1,234.50", (1234.5, None)),
        ("1.234,50", (1234.5, None)),
        ("1.234.567", (1234567.0, None)),
        ("12,5", (12.5, None)),
        ("1,234", (1234.0, None)),
        ("$15", (15.0, "USD")),
        ("15 €", (15.0, "EUR")),
        ("EUR 15", (15.0, "EUR")),
        ("15.00 usd", (15.0, "USD")),
        ("0", (0.0, None)),
        (0, (0.0, None)),
    ],
)
def test_price_is_read_as_amount_and_currency(raw: Any, expected: tuple[float, str | None]) -> None:
    assert parse_price(raw, FIELD) == expected


@pytest.mark.parametrize("absent", [None, ""])
def test_empty_price_is_absent_not_zero(absent: Any) -> None:
    assert parse_price(absent, FIELD) == (None, None)


@pytest.mark.parametrize(
    "junk",
    [
        "abc",
        "USD",
        "15 dollars",
        "NaN",
        "inf",
        "   ",
        "-5",
        # Separators that do not group digits in threes are not thousands separators:
        # reading these as 1555, 123 or 15 would store a wrong price without a word.
        "15.5.5",
        "1,2,3",
        "1..5",
        "1.2,50",
        True,
        [1],
        {"amount": 1},
        float("nan"),
        float("inf"),
    ],
)
def test_junk_price_is_refused_naming_the_field(junk: Any) -> None:
    error = _refused(parse_price, junk)
    assert error.code == Reason.INVALID_VALUE


# --- quantities -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", 1), ("3", 3), (1, 1), (2.0, 2), ("2.5", 2.5), ("1,5", 1.5), (" 4 ", 4), (0, 0)],
)
def test_quantity_from_string_or_number(raw: Any, expected: float) -> None:
    quantity = parse_quantity(raw, "quantity")
    assert quantity == expected
    # Whole quantities are ints, so "1" and 1 store the same JSON.
    assert isinstance(quantity, int) == float(expected).is_integer()


@pytest.mark.parametrize("huge", [1.8446744073709552e19, "18446744073709551616", 1e300])
def test_a_huge_quantity_stays_storable_json(huge: Any) -> None:
    # Found by the property tests: int(1.8e19) is beyond what JSON encoders take.
    quantity = parse_quantity(huge, "quantity")
    assert orjson.loads(orjson.dumps(quantity)) == quantity


@pytest.mark.parametrize("absent", [None, ""])
def test_empty_quantity_is_absent(absent: Any) -> None:
    assert parse_quantity(absent, "quantity") is None


@pytest.mark.parametrize("junk", ["abc", "10 pcs", "  ", -1, "-2", True, [1], float("inf")])
def test_junk_quantity_is_refused_naming_the_field(junk: Any) -> None:
    _refused(parse_quantity, junk, "StatusCart[1].quantity")


# --- flags ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1, True),
        ("1", True),
        (0, False),
        ("0", False),
        (True, True),
        (False, False),
        ("true", True),
        ("false", False),
        (" TRUE ", True),
        (1.0, True),
    ],
)
def test_flag_values_shops_send(raw: Any, expected: bool) -> None:
    assert parse_flag(raw, "isInStock") is expected


@pytest.mark.parametrize("absent", [None, ""])
def test_empty_flag_is_unknown_not_false(absent: Any) -> None:
    # isInStock "" means "not said", which must not read as out of stock.
    assert parse_flag(absent, "isInStock") is None


@pytest.mark.parametrize("junk", [2, "2", -1, "maybe", "  ", [1], {"v": 1}])
def test_junk_flag_is_refused_naming_the_field(junk: Any) -> None:
    _refused(parse_flag, junk, "ProductPage.isInStock")


# --- currencies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("USD", "USD"), ("usd", "USD"), (" uah ", "UAH"), ("$", "USD"), ("€", "EUR"), ("", None)],
)
def test_currency_codes_are_upper_case_and_symbols_mapped(raw: str, expected: str | None) -> None:
    assert parse_currency(raw, "currency") == expected


def test_missing_currency_is_none() -> None:
    assert parse_currency(None, "currency") is None


@pytest.mark.parametrize("junk", [5, "   ", ["USD"], True])
def test_junk_currency_is_refused_naming_the_field(junk: Any) -> None:
    _refused(parse_currency, junk, "StatusCart.Products[0].price_currency_code")


# --- keys (productKey, GUID, OrderNumber, categoryKey…) -------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("24-MB02", "24-MB02"),
        ("  72354 ", "72354"),
        (430738, "430738"),
        (5.0, "5"),
        (5.5, "5.5"),
        ("123/2017", "123/2017"),
    ],
)
def test_keys_arrive_as_strings_or_numbers(raw: Any, expected: str) -> None:
    assert parse_key(raw, "productKey", required=True) == expected


@pytest.mark.parametrize("absent", [None, "", "   "])
def test_absent_required_key_is_a_missing_field(absent: Any) -> None:
    # A blank key is as missing as no key: the answer must say "required", not "wrong type".
    error = _refused(parse_key, absent, "ProductPage.productKey", required=True)
    assert error.code == Reason.MISSING_FIELD


@pytest.mark.parametrize("absent", [None, "", "   "])
def test_absent_optional_key_is_none(absent: Any) -> None:
    assert parse_key(absent, "s_location", required=False) is None


@pytest.mark.parametrize("junk", [True, [1], {"id": 1}, float("nan"), float("inf"), "a\x00b"])
def test_junk_key_is_refused_naming_the_field(junk: Any) -> None:
    error = _refused(parse_key, junk, "StatusCart.GUID", required=False)
    assert error.code == Reason.INVALID_VALUE


def test_key_longer_than_its_column_is_refused() -> None:
    assert parse_key("g" * 128, "GUID", required=True, max_length=128) == "g" * 128
    error = _refused(parse_key, "g" * 129, "GUID", required=True, max_length=128)
    assert "128" in error.message


# --- tags -----------------------------------------------------------------------------------


def test_tag_values_become_a_list_of_strings() -> None:
    assert tag_values(["abc", "bca"]) == ["abc", "bca"]
    assert tag_values(["a", 1, 2.0, 2.5, True, False]) == ["a", "1", "2", "2.5", "1", "0"]


def test_a_single_tag_value_becomes_a_one_item_list() -> None:
    assert tag_values("abc") == ["abc"]
    assert tag_values(7) == ["7"]


def test_tag_values_skip_nulls_and_nested_structures() -> None:
    assert tag_values(None) == []
    assert tag_values(["a", None, {"x": 1}, ["y"]]) == ["a"]


def test_tags_object_maps_each_name_to_string_values() -> None:
    tags = normalize_tags({"some_tags": ["1", "a2"], "blockId": "19787_r119v224", "n": 3}, "Tags")
    assert tags == {"some_tags": ["1", "a2"], "blockId": ["19787_r119v224"], "n": ["3"]}


def test_no_tags_is_empty() -> None:
    assert normalize_tags(None, "Tags") == {}
    assert normalize_tags({}, "Tags") == {}


@pytest.mark.parametrize("junk", [["a"], "a", 5])
def test_tags_that_are_not_an_object_are_refused_naming_the_field(junk: Any) -> None:
    _refused(normalize_tags, junk, "CategoryPage.Tags")


# --- refusals never quote the value ---------------------------------------------------------


@pytest.mark.parametrize(
    ("parse", "value"),
    [
        (parse_price, "olena@pii.example"),
        (parse_price, "+380 50 123 45 67"),
        (parse_quantity, "+380501234567"),
        (parse_quantity, "olena@pii.example"),
        (parse_flag, "+380501234567"),
    ],
)
def test_a_refusal_names_the_field_and_what_was_expected_never_the_value(
    parse: Any, value: str
) -> None:
    # A leading "+" is a phone's, never a price's: refused, not stored as 380501234567.0.
    error = _refused(parse, value, "PurchasedItems.price")
    assert value not in error.message and "olena" not in error.message
    assert "380" not in error.message
    assert error.message.startswith("PurchasedItems.price: expected ")
    assert f"{len(value)} characters" in error.message
