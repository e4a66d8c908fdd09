"""Trigger messages as the engine would decide them, for the delivery tests."""

from __future__ import annotations

import uuid
from typing import Any

from shoptrack.triggers.model import Channel, MessageProduct, OutgoingMessage, Rule

HOSTILE_NAME = '<script>alert("x")</script> Bag & "Co"'


def cart_message(**changes: Any) -> OutgoingMessage:
    fields: dict[str, Any] = {
        "message_id": uuid.uuid4().hex,
        "site_id": "site-1",
        "site_name": "Luma Shop",
        "rule": Rule.ABANDONED_CART,
        "channel": Channel.EMAIL,
        "contact_id": "c-42",
        "created_at_ms": 1_764_842_400_000,
        "email": "buyer@example.com",
        "products": (
            MessageProduct(
                "24-MB02",
                HOSTILE_NAME,
                "https://shop.example/bag?color=red",
                "https://shop.example/bag.jpg",
                129.0,
                153.0,
                "EUR",
                2,
            ),
            MessageProduct("24-MB03", "Plain Tote", "javascript:alert(1)", None, 20.0, 20.0, "EUR"),
        ),
        "recommendations": (
            MessageProduct(
                "24-UG01",
                "Yoga Mat",
                "https://shop.example/mat",
                "https://shop.example/m.jpg",
                30.0,
            ),
        ),
        "unsubscribe_url": None,
    }
    fields.update(changes)
    return OutgoingMessage(**fields)
