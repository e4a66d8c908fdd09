"""What visitors watch for the catalogue-change rules: written by the ``triggers`` processor.

``wishlist``, ``price_drop`` and ``back_in_stock`` are not started by an event of the contact
but by a change of the catalogue. So the processor keeps, per visitor, rule and product, what
the visitor saw (``trigger_watches``): the latest ``ProductPage`` of a product (``price_drop``;
``back_in_stock`` only while it was out of stock) or ``AddToWishlist`` (``wishlist``), with the
price, currency and stock of the event, or the live catalogue's when the event carries none.
The watcher (``watcher.py``) compares them with the catalogue as it changes; the decider
decides from the event log and the price history, the watches only say whom to look at.

A new sighting replaces the old one (the visitor has seen the price of now) and is not
``qualified`` yet; an order of the product by the visitor forgets it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, delete, select

from shoptrack.catalog.store_ops import live_generation_expr
from shoptrack.store.sql import insert_for
from shoptrack.store.tables import catalog_products, trigger_watches
from shoptrack.triggers.model import Rule

# The rules a catalogue change starts, and the event each watches.
WATCH_RULES = (Rule.WISHLIST, Rule.PRICE_DROP, Rule.BACK_IN_STOCK)
_STATEMENTS: dict[str, Any] = {}


def _upsert(conn: Connection) -> Any:
    stmt = _STATEMENTS.get(conn.dialect.name)
    if stmt is None:
        base = insert_for(conn, trigger_watches)
        new = base.excluded
        stmt = _STATEMENTS[conn.dialect.name] = base.on_conflict_do_update(
            index_elements=["site_id", "rule", "visitor_id", "product_key"],
            set_={
                "seen_price": new.seen_price,
                "seen_currency": new.seen_currency,
                "seen_in_stock": new.seen_in_stock,
                "seen_at": new.seen_at,
                "seq": new.seq,
                "qualified": False,
            },
        )
    return stmt


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def first_product(data: dict[str, Any]) -> dict[str, Any] | None:
    """The product of a ``ProductPage`` / ``AddToWishlist`` (canonical JSON), if it has a key."""
    for product in data.get("products") or ():
        if isinstance(product, dict) and isinstance(product.get("key"), str) and product["key"]:
            return product
    return None


def _live(conn: Connection, site_id: str, key: str) -> Any:
    p = catalog_products.c
    stmt = select(p.price, p.currency, p.in_stock).where(
        p.site_id == site_id, p.generation == live_generation_expr(site_id), p.product_key == key
    )
    return conn.execute(stmt).first()


def record_sighting(
    conn: Connection,
    site_id: str,
    rules: set[Rule],
    visitor_id: str,
    product: dict[str, Any],
    seen_at: int,
    seq: int,
) -> None:
    """A view (``rules``: price_drop / back_in_stock) or a wishlisting (wishlist) of ``product``."""
    key = str(product["key"])[:255]
    price, currency = _number(product.get("price")), product.get("currency")
    in_stock = product.get("in_stock")
    in_stock = in_stock if isinstance(in_stock, bool) else None
    if price is None or in_stock is None:  # the event does not say: the catalogue of now does
        live = _live(conn, site_id, key)
        if live is not None:
            if price is None:
                price, currency = live.price, live.currency
            if in_stock is None:
                in_stock = live.in_stock
    currency = currency if isinstance(currency, str) and len(currency) <= 8 else None
    rows = []
    for rule in sorted(rules):
        if rule is Rule.BACK_IN_STOCK and in_stock is not False:
            if in_stock is True:  # seen in stock: nothing to wait for any more
                forget(conn, site_id, visitor_id, [key], (rule,))
            continue
        if rule is Rule.PRICE_DROP and price is None:
            continue
        rows.append(
            {
                "site_id": site_id,
                "rule": rule.value,
                "visitor_id": visitor_id,
                "product_key": key,
                "seen_price": price,
                "seen_currency": currency,
                "seen_in_stock": in_stock,
                "seen_at": seen_at,
                "seq": seq,
                "qualified": False,
            }
        )
    if rows:
        conn.execute(_upsert(conn), rows)


def forget(
    conn: Connection,
    site_id: str,
    visitor_id: str,
    keys: list[str],
    rules: tuple[Rule, ...] = WATCH_RULES,
) -> None:
    """The visitor's watches of ``keys`` end (an order of them, a view in stock)."""
    if not keys:
        return
    w = trigger_watches.c
    stmt = delete(trigger_watches).where(
        w.site_id == site_id,
        w.rule.in_([r.value for r in rules]),
        w.visitor_id == visitor_id,
        w.product_key.in_(bindparam("keys", expanding=True)),
    )
    conn.execute(stmt, {"keys": [k[:255] for k in keys]})
