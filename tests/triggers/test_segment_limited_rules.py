"""A rule limited to a segment sends only to the segment's contacts (issue 16)."""

from __future__ import annotations

from tests.triggers.conftest import Shop

VIP_VIEWERS = {"match": {"condition": "event", "event": "viewed", "product": "vip"}}


def test_only_contacts_in_the_rules_segment_are_sent(shop: Shop) -> None:
    shop.identify("v-in", user_email="in@example.com")
    shop.identify("v-out", user_email="out@example.com")
    shop.view("v-in", "vip")
    shop.drain()
    made = shop.client.post(
        "/api/v1/segments",
        json={"name": "VIP viewers", "definition": VIP_VIEWERS},
        headers=shop.headers,
    )
    assert made.status_code == 201, made.text
    segment_id = made.json()["id"]
    rule = shop.configure("abandoned_cart", enabled=True, cap_days=0, segment_id=segment_id)
    assert rule["rule"]["segment_id"] == segment_id
    shop.cart("v-in", "p1", guid="g-in")
    shop.cart("v-out", "p1", guid="g-out")
    shop.drain()
    shop.clock.advance(61)
    shop.engine().tick()
    outcome = {m.contact_id: (m.status, m.reason) for m in shop.messages()}
    assert sorted(status for status, _ in outcome.values()) == ["sent", "suppressed"]
    assert (f"not in segment {segment_id}") in {reason for _, reason in outcome.values()}
    assert len(shop.email.sent) == 1


def test_a_rule_names_only_a_segment_of_its_site(shop: Shop) -> None:
    answer = shop.client.patch(
        "/api/v1/triggers/abandoned_cart", json={"segment_id": 999}, headers=shop.headers
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == "segment_id"
    bad_type = shop.client.patch(
        "/api/v1/triggers/abandoned_cart", json={"segment_id": "vip"}, headers=shop.headers
    )
    assert bad_type.status_code == 400 and bad_type.json()["error"]["field"] == "segment_id"
