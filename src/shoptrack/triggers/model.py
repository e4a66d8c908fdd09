"""The shapes the trigger engine and the deliveries share.

The engine decides a message and fills an :class:`OutgoingMessage`; a :class:`Delivery` sends
it and says how it went. Neither side knows how the other stores or transports anything.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Rule(StrEnum):
    """The rule names, as the API and the CLI spell them."""

    ABANDONED_CART = "abandoned_cart"
    ABANDONED_BROWSE = "abandoned_browse"
    SEARCH_NO_RESULTS = "search_no_results"
    WISHLIST = "wishlist"
    PRICE_DROP = "price_drop"
    BACK_IN_STOCK = "back_in_stock"


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class MessageStatus(StrEnum):
    """pending → sending → sent | failed; or cancelled / suppressed before sending."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SUPPRESSED = "suppressed"


@dataclass(frozen=True, slots=True)
class MessageProduct:
    """One product line of a message: what it is now, and (for carts) what it was then."""

    product_id: str
    name: str | None
    url: str | None  # the product's link with sc_content and UTM parameters already added
    image_url: str | None
    price: float | None
    price_then: float | None = None
    currency: str | None = None
    quantity: int | None = None


def new_message_id() -> str:
    """A fresh message id: 32 hex digits (uuid4).

    Links carry it in ``sc_content`` (``t_<rule>_<message_id>``, reports/ids.py), which takes
    letters, digits and ``-`` only; it is also the webhook-id and the Message-ID's local part.
    """
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A decided message, ready for its channel."""

    message_id: str  # unique, random; also the webhook-id and the Message-ID's local part
    site_id: str
    site_name: str
    rule: Rule
    channel: Channel
    contact_id: str
    created_at_ms: int
    email: str | None = None  # decrypted only for sending, never stored with the message
    webhook_url: str | None = None
    products: tuple[MessageProduct, ...] = ()
    recommendations: tuple[MessageProduct, ...] = ()
    unsubscribe_url: str | None = None
    template: str | None = None  # a per-site template name/source; None: the rule's default
    extra: dict[str, Any] = field(default_factory=dict)  # rule-specific facts (search query…)


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # temporary: try again later (5xx, timeout, SMTP 4xx)
    FAILED = "failed"  # permanent: do not try again (SMTP 5xx on the recipient, 4xx webhook)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    outcome: Outcome
    detail: str  # for the attempt's record and the operator: never holds secrets or addresses


class Delivery(Protocol):
    """Sends one message once; raises nothing for delivery problems (they are results)."""

    channel: Channel

    def send(self, message: OutgoingMessage, attempt: int) -> DeliveryResult: ...
