"""The ``segments`` processor's first half: what each event tells the conditions, as rows of
``segment_facts`` (one per event and product line; bot traffic left out)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, delete, select

from shoptrack.events.traffic import is_bot_event
from shoptrack.events.types import EventType
from shoptrack.store.sql import chunks, insert_for
from shoptrack.store.tables import events, segment_facts

# The kinds of facts, as the definitions' event names read them (definition.EventKind).
KIND_OF_EVENT = {
    "viewed": "viewed",
    "carted": "carted",
    "purchased": "purchased",
    "wishlisted": "wishlisted",
    "searched": "searched",
    "searched_no_result": "searched_none",
    "viewed_category": "viewed_category",
}
_KIND_OF_TYPE = {
    EventType.PRODUCT_PAGE.value: "viewed",
    EventType.STATUS_CART.value: "carted",
    EventType.STATUS_CART_PAGE.value: "carted",
    EventType.PURCHASED_ITEMS.value: "purchased",
    EventType.ADD_TO_WISHLIST.value: "wishlisted",
    EventType.SEARCH_REQUEST.value: "searched",
    EventType.CATEGORY_PAGE.value: "viewed_category",
}
RELEVANT_TYPES = tuple(_KIND_OF_TYPE)


@dataclass(frozen=True, slots=True)
class Touched:
    """Whose facts a batch added, per site: the people whose membership may have changed."""

    visitors: frozenset[str]
    contacts: frozenset[str]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _key(value: Any, limit: int = 255) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value)
    return text[:limit] if text else None


def fact_rows(seq: int, site_id: str, row: Any, data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    kind = _KIND_OF_TYPE[row.type]
    base = {
        "site_id": site_id,
        "seq": seq,
        "visitor_id": row.visitor_id,
        "contact_id": row.contact_id,
        "at": int(row.occurred_at),
    }
    empty = dict.fromkeys(
        ("product_key", "price", "in_stock", "amount", "order_key", "category_key")
    )
    if kind == "searched":
        yield {**base, **empty, "line": 0, "kind": kind}
        search = data.get("search") or {}
        if isinstance(search, dict) and search.get("found") is False:
            yield {**base, **empty, "line": 1, "kind": "searched_none"}
        return
    if kind == "viewed_category":
        yield {
            **base,
            **empty,
            "line": 0,
            "kind": kind,
            "category_key": _key(data.get("category_key")),
        }
        return
    order_key = None
    if kind == "purchased":
        order_key = _key(data.get("order_number"), 150) or f"#{seq}"
        order_key = f"o:{order_key}"
    products = [p for p in data.get("products") or [] if isinstance(p, dict)]
    if not products:
        # An emptied cart (or an order sent without lines) still says when it happened.
        yield {**base, **empty, "line": 0, "kind": kind, "order_key": order_key}
        return
    for line, product in enumerate(products):
        price = _number(product.get("price"))
        quantity = _number(product.get("quantity"))
        in_stock = product.get("in_stock")
        yield {
            **base,
            "line": line,
            "kind": kind,
            "product_key": _key(product.get("key")),
            "price": price,
            "in_stock": in_stock if isinstance(in_stock, bool) else None,
            "amount": price * (quantity if quantity is not None else 1.0)
            if price is not None
            else None,
            "order_key": order_key,
            "category_key": None,
        }


def write_facts(
    conn: Connection, after: int, upto: int, include_bots: bool = False
) -> dict[str, Touched]:
    """Facts of the events ``after < seq <= upto``; returns, per site, whose they were (every
    event's visitor counts: a CustomerData event may have linked a visitor to a contact)."""
    e = events.c
    stmt = (
        select(e.seq, e.site_id, e.type, e.occurred_at, e.visitor_id, e.contact_id, e.data)
        .where(e.seq > after, e.seq <= upto)
        .order_by(e.seq)
    )
    rows: list[dict[str, Any]] = []
    visitors: dict[str, set[str]] = {}
    contacts: dict[str, set[str]] = {}
    for row in conn.execute(stmt):
        if row.visitor_id:
            visitors.setdefault(row.site_id, set()).add(row.visitor_id)
        if row.contact_id:
            contacts.setdefault(row.site_id, set()).add(row.contact_id)
        if row.type not in _KIND_OF_TYPE or (not row.visitor_id and not row.contact_id):
            continue
        data = orjson.loads(row.data)
        if not isinstance(data, dict) or (not include_bots and is_bot_event(data)):
            continue
        rows.extend(fact_rows(int(row.seq), row.site_id, row, data))
    if rows:
        # A replay (after a failure, or `reports rebuild`) writes the same keys again.
        for part in chunks(rows, 500):
            conn.execute(
                insert_for(conn, segment_facts).on_conflict_do_nothing(
                    index_elements=["site_id", "seq", "line"]
                ),
                list(part),
            )
    sites = set(visitors) | set(contacts)
    return {
        site: Touched(frozenset(visitors.get(site, ())), frozenset(contacts.get(site, ())))
        for site in sites
    }


def forget_facts(
    conn: Connection, site_id: str, contact_ids: list[str], visitor_ids: list[str]
) -> int:
    """Erasure: the person's facts go (their events keep no link back to them either)."""
    removed = 0
    f = segment_facts.c
    for part in chunks(visitor_ids):
        removed += conn.execute(
            delete(segment_facts).where(f.site_id == site_id, f.visitor_id.in_(part))
        ).rowcount
    for part in chunks(contact_ids):
        removed += conn.execute(
            delete(segment_facts).where(f.site_id == site_id, f.contact_id.in_(part))
        ).rowcount
    return removed
