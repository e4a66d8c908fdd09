"""An event of the log as a row of a page: the few facts a reader scans, and the whole
canonical JSON pretty-printed for the row's ``<details>`` (the Live events page and a
contact's timeline show events alike)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from shoptrack.events.traffic import is_bot_event
from shoptrack.store.event_pages import LoggedEvent

_MAX_SUMMARY = 120


@dataclass(frozen=True, slots=True)
class EventView:
    seq: int
    type: str
    occurred_at: int
    received_at: int
    visitor_id: str | None
    contact_id: str | None  # the contact the visitor is linked to now, if any
    source: str
    page_url: str | None
    summary: str
    is_bot: bool
    canonical: str  # pretty-printed JSON


def _summary(data: dict[str, Any]) -> str:
    """What the event was about: its products, order, search or category, in a line."""
    parts: list[str] = []
    products = data.get("products") or []
    if isinstance(products, list) and products:
        keys = [str(p.get("key")) for p in products[:5] if isinstance(p, dict)]
        more = f" +{len(products) - 5}" if len(products) > 5 else ""
        parts.append(("product " if len(products) == 1 else "products ") + ", ".join(keys) + more)
    if data.get("order_number"):
        parts.append(f"order {data['order_number']}")
    search = data.get("search")
    if isinstance(search, dict) and search.get("query"):
        parts.append(f"search {search['query']!s}")
    if data.get("category_key"):
        parts.append(f"category {data['category_key']}")
    text = "; ".join(parts)
    return text if len(text) <= _MAX_SUMMARY else text[: _MAX_SUMMARY - 1] + "…"


def event_view(event: LoggedEvent, contacts: dict[str, str]) -> EventView:
    data: dict[str, Any] = orjson.loads(event.data)
    page = data.get("page")
    url = page.get("url") if isinstance(page, dict) else None
    return EventView(
        seq=event.seq,
        type=event.type,
        occurred_at=event.occurred_at,
        received_at=event.received_at,
        visitor_id=event.visitor_id,
        contact_id=contacts.get(event.visitor_id or ""),
        source=event.source,
        page_url=url if isinstance(url, str) else None,
        summary=_summary(data),
        is_bot=is_bot_event(data),
        canonical=orjson.dumps(data, option=orjson.OPT_INDENT_2).decode(),
    )
