"""Trigger links: attributed to the message, UTM-tagged, http(s) only."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from shoptrack.events.location import location_from_url
from shoptrack.reports.ids import (
    TriggerRef,
    parse_container,
    parse_trigger_content,
    trigger_content,
)
from shoptrack.triggers.links import tracked_link, with_tracked_links
from shoptrack.triggers.model import Channel, Rule, new_message_id
from tests.triggers.messages import cart_message


def test_a_link_gets_sc_content_and_utm_and_keeps_the_shops_parameters() -> None:
    link = tracked_link(
        "https://shop.example/p/1?color=red&utm_source=old#top", "price_drop", "m1", Channel.EMAIL
    )
    assert link is not None
    parts = urlsplit(link)
    assert parts.fragment == "top"
    assert parse_qsl(parts.query) == [
        ("color", "red"),
        ("sc_content", "t_price_drop_m1"),
        ("utm_source", "shoptrack"),
        ("utm_medium", "email"),
        ("utm_campaign", "price_drop"),
    ]
    assert tracked_link(link, "price_drop", "m1", Channel.EMAIL) == link  # idempotent
    # What the collector stores as the landing's location, and the reports read back.
    assert location_from_url(link) == "t_price_drop_m1"


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "data:text/html,x", "/relative", "ftp://x/y", "https://", None]
)
def test_only_http_links_survive(url: str | None) -> None:
    assert tracked_link(url, "wishlist", "m1", Channel.WEBHOOK) is None


def test_every_rule_and_a_uuid_message_id_round_trip_and_never_read_as_a_block() -> None:
    message_id = new_message_id()
    assert len(message_id) == 32 and message_id != new_message_id()
    for rule in Rule:
        content = trigger_content(rule.value, message_id)
        assert parse_trigger_content(content) == TriggerRef(rule.value, message_id)
        assert parse_container(content) is None
    with pytest.raises(ValueError):
        trigger_content("abandoned_cart", "has_underscore")
    assert parse_trigger_content("home_r1v2") is None


def test_a_message_s_images_are_kept_only_when_http() -> None:
    message = with_tracked_links(cart_message())
    assert message.products[0].image_url == "https://shop.example/bag.jpg"
    assert message.products[1].url is None
