"""Normalization: one spelling per e-mail and phone; invalid values refused, field named."""

from __future__ import annotations

import pytest

from shoptrack.errors import ShoptrackError
from shoptrack.identity.normalize import (
    normalize_email,
    normalize_phone,
    patch_from_api,
    patch_from_event,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Anna@Example.COM ", "anna@example.com"),
        ("anna@Bücher.DE", "anna@xn--bcher-kva.de"),
        ("anna@xn--bcher-kva.de", "anna@xn--bcher-kva.de"),
        ("first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"),
        ("a@example.com.", "a@example.com"),
    ],
)
def test_email_normalization(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "plain",
        "@example.com",
        "anna@",
        "anna@localhost",
        "an na@example.com",
        "anna@exa_mple.com",
        "a@b@example.com",
        42,
        None,
        "x" * 300 + "@example.com",
    ],
)
def test_invalid_emails_are_refused_naming_the_field(raw: object) -> None:
    with pytest.raises(ShoptrackError) as caught:
        normalize_email(raw, "user_email")
    assert caught.value.field == "user_email"
    if isinstance(raw, str) and raw.strip():
        assert raw.strip() not in caught.value.message  # the value is never echoed


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+380 50 123 45 67", None, "+380501234567"),
        ("380501234567", None, "+380501234567"),
        ("050 123 45 67", "UA", "+380501234567"),
        ("(650) 253-0000", "US", "+16502530000"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        (380501234567, None, "+380501234567"),
    ],
)
def test_phone_to_e164(raw: object, region: str | None, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("12", "US"),
        ("abc", None),
        ("0501234567", None),
        ("+999 123", None),
        ("", "UA"),
        (True, "UA"),
    ],
)
def test_invalid_phones_are_refused(raw: object, region: str | None) -> None:
    with pytest.raises(ShoptrackError) as caught:
        normalize_phone(raw, region)
    assert caught.value.field == "phone"


def test_api_row_is_refused_whole_when_one_field_is_invalid() -> None:
    with pytest.raises(ShoptrackError) as caught:
        patch_from_api({"email": "ok@example.com", "phone": "nope"}, None)
    assert caught.value.field == "phone"
    with pytest.raises(ShoptrackError) as caught:
        patch_from_api({"firstName": "Anna"}, None)
    assert caught.value.field == "externalCustomerId"
    with pytest.raises(ShoptrackError) as caught:
        patch_from_api({"email": "ok@example.com", "fields": {"x": {"nested": 1}}}, None)
    assert caught.value.field == "fields.x"
    patch = patch_from_api(
        {"external_customer_id": 77, "EMAIL": "A@B.CO", "first_name": " Anna ", "city": None},
        None,
    )
    assert patch.values == {
        "externalCustomerId": "77",
        "email": "a@b.co",
        "firstName": "Anna",
        "city": None,
    }


def test_event_identity_is_read_leniently() -> None:
    patch = patch_from_event(
        {
            "externalCustomerId": "1234509876",
            "user_email": "Example@Email.com",
            "user_name": "Johny",
            "user_card_id": "321",
            "user_phone": "3801111111111",  # the spec's example is not a valid number
            "user_city": "Gdańsk",
            "user_tags_gender": "male",
            "user_es_contact_id": 100500,
        },
        None,
    )
    assert patch.values == {
        "externalCustomerId": "1234509876",
        "email": "example@email.com",
        "firstName": "Johny",
        "city": "Gdańsk",
    }
    assert patch.fields == {"card_id": "321", "tags_gender": "male"}
    assert patch.contact_ref == "100500"
