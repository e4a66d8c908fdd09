"""The one scrubber: e-mails, phones and personal keys out of everything stored in the clear."""

from __future__ import annotations

from typing import Any

import pytest

from shoptrack.events.scrub import (
    EMAIL,
    PHONE,
    REMOVED,
    known_names,
    personal_placeholder,
    scrub_names,
    scrub_optional,
    scrub_payload,
    scrub_text,
    scrub_tree,
)


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example/confirm?email=olena@example.com&step=2",
        # Links carry addresses percent-encoded far more often than raw.
        "https://shop.example/confirm?email=olena%40example.com&step=2",
        "https://shop.example/confirm?email=OLENA%40EXAMPLE.COM&step=2",
        "https://shop.example/u/olena%40example.com/orders?step=2",
    ],
)
def test_email_addresses_in_page_urls_are_scrubbed(url: str) -> None:
    scrubbed = scrub_optional(url)
    assert scrubbed is not None
    assert "olena" not in scrubbed.lower()
    assert "step=2" in scrubbed


def test_email_addresses_in_page_titles_are_scrubbed() -> None:
    assert scrub_text("Olena – olena@example.com – My account") == "Olena – [email] – My account"
    assert scrub_text("Backpacks | Shop") == "Backpacks | Shop"
    assert scrub_optional(None) is None


def test_urls_without_email_are_left_alone() -> None:
    assert (
        scrub_optional("https://shop.example/p/1?a=b&c=100%25")
        == "https://shop.example/p/1?a=b&c=100%25"
    )
    assert scrub_optional(None) is None


def test_email_in_a_malformed_url_is_scrubbed_too() -> None:
    scrubbed = scrub_optional("http://[broken/?email=olena@example.com")
    assert scrubbed is not None
    assert "olena@example.com" not in scrubbed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Call +380 50 123 45 67 today", f"Call {PHONE} today"),
        ("+1 (415) 555-2671", PHONE),
        ("tel:+380501234567", f"tel:{PHONE}"),
        (
            "https://shop.example/c?tel=0501234567&step=2",
            f"https://shop.example/c?tel={PHONE}&step=2",
        ),
        ("https://shop.example/c?q=%2B380501234567", f"https://shop.example/c?q={PHONE}"),
        (
            "https://shop.example/c?Phone_Number=050-123-45-67",
            f"https://shop.example/c?Phone_Number={PHONE}",
        ),
        (
            "https://shop.example/c?first_name=Olena&x=1",
            f"https://shop.example/c?first_name={REMOVED}&x=1",
        ),
        ("cannot read 'x@pii.example' as a price", f"cannot read '{EMAIL}' as a price"),
    ],
)
def test_phones_emails_and_personal_url_parameters_in_text(text: str, expected: str) -> None:
    assert scrub_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "24-MB02",
        "6F9619FF-8B86-D011-B42D-00CF4FC964FF",
        "2026-11-27T10:00:00.000+02:00",
        "1 234,50 UAH",
        "ORDER-380501234567",
        "380501234567",
        "1e+300",
        "+15",
        "https://shop.example/c?name=shoes&hotel=1&title=A",
        "Backpacks | Shop",
    ],
)
def test_prices_keys_orders_and_timestamps_are_left_alone(text: str) -> None:
    assert scrub_text(text) is text or scrub_text(text) == text


@pytest.mark.parametrize(
    ("key", "placeholder"),
    [
        ("email", EMAIL),
        ("E-Mail", EMAIL),
        ("customer_email", EMAIL),
        ("tag_email", EMAIL),
        ("tags_billingEmail", EMAIL),
        ("phone", PHONE),
        ("TEL", PHONE),
        ("mobile", PHONE),
        ("phone_number", PHONE),
        ("user_phone", PHONE),
        ("firstName", REMOVED),
        ("user_city", REMOVED),
        ("productKey", ""),
        ("name", ""),
        ("price", ""),
        ("Tags", ""),
        ("OrderNumber", ""),
    ],
)
def test_personal_keys(key: str, placeholder: str) -> None:
    assert personal_placeholder(key) == placeholder


def test_values_under_personal_keys_are_replaced_at_any_depth() -> None:
    payload: dict[str, Any] = {
        "PurchasedItems": {
            "OrderNumber": "o1",
            "email": "erase.me@pii.example",
            "phone": 380501234567,
            "customer": {"phone": "0501234567", "name": "Olena", "emails": ["a@b.example"]},
            "Products": [{"productKey": "SKU1", "tag_email": ["x@pii.example"]}],
            "Tags": {"email": ["x@pii.example"], "color": ["red"]},
        }
    }
    assert scrub_payload(payload) == {
        "PurchasedItems": {
            "OrderNumber": "o1",
            "email": EMAIL,
            "phone": PHONE,
            "customer": {"phone": PHONE, "name": "Olena", "emails": ["a@b.example"]},
            "Products": [{"productKey": "SKU1", "tag_email": EMAIL}],
            "Tags": {"email": EMAIL, "color": ["red"]},
        }
    }
    # Untouched input comes back as the same object (no copy on the hot path)…
    clean = {"ProductPage": {"productKey": "1", "Tags": {"a": ["b"]}}, "list": [1, {"x": 2}]}
    assert scrub_payload(clean) is clean
    # …and the caller's payload is never changed in place.
    assert payload["PurchasedItems"]["email"] == "erase.me@pii.example"


def test_tree_scrubs_every_string_and_key() -> None:
    tree = {"a@pii.example": ["+380 50 123 45 67", {"t": "x a@b.example"}], "n": 1}
    assert scrub_tree(tree) == {EMAIL: [PHONE, {"t": f"x {EMAIL}"}], "n": 1}
    assert scrub_optional(None) is None
    assert scrub_optional("") == ""


def test_names_the_event_itself_gives_are_taken_out_of_free_text() -> None:
    names = known_names({"user_name": "Olena", "lastName": " Petrenko ", "user_city": "Kyiv"})
    assert names == ["Olena", "Petrenko"]
    title = "OLENA Petrenko – My account | Kyiv"
    assert scrub_names(title, names) == "[name] [name] – My account | Kyiv"
    assert scrub_names(title, []) is title
    assert scrub_names(None, names) is None
