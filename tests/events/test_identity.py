"""Personal data leaves the payload before anything is stored; it travels beside the event.

Decision under test (``shoptrack.events.identity``): identity fields are removed from the
payload and kept only in ``CanonicalEvent.identity``, which the collector stores encrypted.
"""

from __future__ import annotations

from typing import Any

import orjson

from shoptrack.collector.enrich import Sessionizer
from shoptrack.collector.pipeline import IncomingEvent, PipelineConfig, RequestMeta, build_event
from shoptrack.events.identity import extract_identity, identity_from_general, is_identity_key
from shoptrack.events.model import CanonicalEvent
from shoptrack.identity.crypto import Keyring

EMAIL = "example@email.com"
PHONE = "380501234567"
GENERAL_INFO = {
    "externalCustomerId": "1234509876",
    "user_email": EMAIL,
    "user_phone": PHONE,
    "user_es_contact_id": 100500,
}
CUSTOMER_DATA = {
    "externalCustomerId": "1234509876",
    "user_email": EMAIL,
    "user_name": "Johny",
    "user_card_id": "321",
    "user_phone": "3801111111111",
    "user_city": "Gdańsk",
    "user_tags_gender": "male",
}


def event_of(name: str, payload: Any, general: Any = None) -> CanonicalEvent:
    incoming = IncomingEvent(
        site_id="shop-1",
        name=name,
        payload=payload,
        source="browser",
        style="sendEvent",
        event_id="e-1",
        visitor_id="visitor-1",
        session_id="session-1",
        general=general,
    )
    meta = RequestMeta(received_ms=1_764_000_000_000, ip=None, user_agent=None)
    config = PipelineConfig(max_future_ms=300_000, max_browser_age_ms=86_400_000)
    return build_event(incoming, meta, config, Keyring.generate(), Sessionizer(1_800_000))


def stored_text(event: CanonicalEvent) -> str:
    """Everything of the event that goes to plaintext columns."""
    return orjson.dumps(event.to_json()).decode()


def test_general_info_identity_fields_are_taken_out_of_the_payload() -> None:
    payload = {"GeneralInfo": dict(GENERAL_INFO), "ProductPage": {"productKey": "24-WG02"}}
    identity, redacted = extract_identity(payload)
    assert identity == GENERAL_INFO
    assert redacted == {"GeneralInfo": {}, "ProductPage": {"productKey": "24-WG02"}}


def test_general_info_keeps_what_is_not_identity() -> None:
    # s_location is attribution, not a person: it must stay for the location field.
    payload = {"GeneralInfo": {"user_email": EMAIL, "s_location": "19534_r24v435"}}
    identity, redacted = extract_identity(payload)
    assert identity == {"user_email": EMAIL}
    assert redacted == {"GeneralInfo": {"s_location": "19534_r24v435"}}


def test_the_whole_customer_data_section_is_identity() -> None:
    identity, redacted = extract_identity({"CustomerData": dict(CUSTOMER_DATA)})
    assert identity == CUSTOMER_DATA
    assert redacted == {"CustomerData": {}}


def test_identity_keys_at_the_payload_top_level_are_taken_too() -> None:
    identity, redacted = extract_identity(
        {"user_email": EMAIL, "externalCustomerId": "7", "MainPage": {}}
    )
    assert identity == {"user_email": EMAIL, "externalCustomerId": "7"}
    assert redacted == {"MainPage": {}}


def test_identity_section_names_match_case_insensitively() -> None:
    identity, redacted = extract_identity({"generalInfo": {"User_Email": EMAIL}})
    assert identity == {"User_Email": EMAIL}
    assert redacted == {"generalInfo": {}}


def test_empty_identity_values_are_not_identity() -> None:
    identity, _ = extract_identity({"GeneralInfo": {"user_email": "", "user_phone": None}})
    assert identity == {}


def test_a_payload_that_is_not_an_object_has_no_identity() -> None:
    assert extract_identity(["x"]) == ({}, ["x"])
    assert extract_identity(None) == ({}, None)


def test_general_info_beside_the_payload_gives_only_its_identity() -> None:
    # The tracker remembers GeneralInfo and sends it beside every event.
    general = {**GENERAL_INFO, "s_location": "1_r1v1", "language": "uk"}
    assert identity_from_general(general) == GENERAL_INFO
    assert identity_from_general("not an object") == {}


def test_identity_key_names() -> None:
    for key in ("user_email", "USER_PHONE", "user_city", "externalCustomerId", "email", "name"):
        assert is_identity_key(key), key
    for key in ("productKey", "s_location", "price", "GUID"):
        assert not is_identity_key(key), key


def test_no_identity_value_reaches_the_canonical_event_json() -> None:
    event = event_of(
        "ProductPage",
        {"GeneralInfo": dict(GENERAL_INFO), "ProductPage": {"productKey": "24-WG02"}},
        general={"user_phone": "380009998877", "user_name": "Olena"},
    )
    text = stored_text(event)
    for value in (EMAIL, PHONE, "1234509876", "100500", "380009998877", "Olena"):
        assert value not in text
    assert event.to_json()["identified"] is True
    assert event.identity == {**GENERAL_INFO, "user_phone": PHONE, "user_name": "Olena"}


def test_customer_data_event_keeps_its_fields_only_as_identity() -> None:
    event = event_of("CustomerData", {"CustomerData": dict(CUSTOMER_DATA)})
    text = stored_text(event)
    for value in CUSTOMER_DATA.values():
        assert value not in text
    assert event.identity == CUSTOMER_DATA


def test_an_event_without_identity_is_not_identified() -> None:
    event = event_of("MainPage", None)
    assert event.identity == {}
    assert event.to_json()["identified"] is False
