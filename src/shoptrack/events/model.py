"""The canonical event: one shape whatever wire shape an event arrived in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from shoptrack.events.types import EventType


def iso_ms(epoch_ms: int | None) -> str | None:
    """Milliseconds since the epoch as an ISO 8601 UTC timestamp with milliseconds."""
    if epoch_ms is None:
        return None
    return _iso_second(epoch_ms // 1000) + _MILLISECONDS[epoch_ms % 1000]


# "000Z" … "999Z": three per stored event, and formatting each was a tenth of building a row.
_MILLISECONDS = tuple(f"{ms:03d}Z" for ms in range(1000))


@lru_cache(maxsize=4096)
def _iso_second(epoch_s: int) -> str:
    """``2026-11-27T10:00:00.`` for a second; cached, as the events of a second share it."""
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.")


@dataclass(slots=True)
class Product:
    key: str | None
    price: float | None = None
    currency: str | None = None
    quantity: float | int | None = None
    discount: float | None = None
    in_stock: bool | None = None
    block: str | None = None
    attributes: dict[str, list[str]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Product:
        return cls(
            key=data.get("key"),
            price=data.get("price"),
            currency=data.get("currency"),
            quantity=data.get("quantity"),
            discount=data.get("discount"),
            in_stock=data.get("in_stock"),
            block=data.get("block"),
            attributes=dict(data.get("attributes") or {}),
            extra=dict(data.get("extra") or {}),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "price": self.price,
            "currency": self.currency,
            "quantity": self.quantity,
            "discount": self.discount,
            "in_stock": self.in_stock,
            "block": self.block,
            "attributes": self.attributes,
        }
        if self.extra:
            out["extra"] = self.extra
        return out


@dataclass(slots=True)
class Page:
    url: str | None = None
    referrer: str | None = None
    title: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "referrer": self.referrer, "title": self.title}


@dataclass(slots=True)
class CanonicalEvent:
    """An accepted event, ready to append to the log.

    ``identity`` holds the personal fields (email, phone, names, external id) taken out of the
    payload; it is never part of :meth:`to_json` and is stored only encrypted.
    """

    id: str
    site_id: str
    type: EventType
    name: str
    style: str
    source: str
    occurred_at: int
    received_at: int
    client_time: int | None = None
    visitor_id: str | None = None
    session_id: str | None = None
    contact_id: str | None = None
    page: Page = field(default_factory=Page)
    location: str | None = None
    products: list[Product] = field(default_factory=list)
    cart_guid: str | None = None
    order_number: str | None = None
    category_key: str | None = None
    search: dict[str, Any] | None = None
    tags: dict[str, list[str]] = field(default_factory=dict)
    ip: str | None = None
    user_agent: dict[str, Any] | None = None
    payload: Any = None
    identity: dict[str, Any] = field(default_factory=dict)
    dropped_before: int = 0
    # A purchase that named only its cart's GUID: the collector copies that cart's items.
    needs_cart_items: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "site_id": self.site_id,
            "type": self.type.value,
            "name": self.name,
            "style": self.style,
            "source": self.source,
            "occurred_at": iso_ms(self.occurred_at),
            "received_at": iso_ms(self.received_at),
            "client_time": iso_ms(self.client_time),
            "visitor_id": self.visitor_id,
            "session_id": self.session_id,
            "contact_id": self.contact_id,
            "page": self.page.to_json(),
            "location": self.location,
            "products": [p.to_json() for p in self.products],
            "cart_guid": self.cart_guid,
            "order_number": self.order_number,
            "category_key": self.category_key,
            "search": self.search,
            "tags": self.tags,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "identified": bool(self.identity),
            "payload": self.payload,
        }
        if self.dropped_before:
            out["dropped_before"] = self.dropped_before
        return out
