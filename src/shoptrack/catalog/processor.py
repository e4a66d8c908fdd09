"""Events into the catalogue: a processor of the event log (run by ``shoptrack.worker``).

* ``ProductUpdate`` (server-side, authenticated at ingestion) sets any field of a product and
  creates products the feed does not have.
* ``ProductPage`` reports the price and stock a visitor saw; it changes existing products
  only (a page view never creates one).

An event's values apply when the event is at least as new as the value it replaces (its
``occurred_at`` against the value's time), so a processor that lags behind an import never
rolls the import back, and the value then wins until an import changes the feed's value
(see ``generations``). Every price or stock change is written to the history with its source.

The worker's runner owns the cursor (``processor_cursors``, name ``catalog``): it hands each
batch ``after < seq <= upto`` to :meth:`CatalogEventProcessor.handle` inside the transaction
that also moves the cursor, so a batch is applied exactly once.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, select, update

from shoptrack.catalog.fields import MAX_KEY_LENGTH, attribute_name, normalize_path
from shoptrack.catalog.store_ops import (
    SOURCE_PAGE,
    SOURCE_UPDATE,
    category_rows,
    chunks,
    dumps,
    history_row,
    insert_categories,
    insert_history,
    loads_dict,
    loads_list,
    lock_site,
    now_ms,
    read_state,
    replace_links,
    search_text,
)
from shoptrack.store.tables import catalog_products, events

P = catalog_products
EVENT_TYPES = ("ProductUpdate", "ProductPage")
_MUTABLE = (
    "title", "description", "link", "image_link", "brand", "currency", "price", "in_stock",
    "price_source", "price_at", "stock_source", "stock_at", "details_source", "details_at",
    "event_at", "categories", "attributes", "search_text", "updated_at",
)  # fmt: skip
_DETAILS = {"name": "title", "description": "description", "url": "link", "imgurl": "image_link",
            "image_link": "image_link", "link": "link", "brand": "brand"}  # fmt: skip


class CatalogEventProcessor:
    """``ProductUpdate`` and ``ProductPage`` events into the live catalogue."""

    name = "catalog"

    def handle(self, conn: Connection, after: int, upto: int) -> None:
        rows = conn.execute(
            select(
                events.c.seq,
                events.c.site_id,
                events.c.type,
                events.c.event_id,
                events.c.occurred_at,
                events.c.data,
            )
            .where(events.c.seq > after, events.c.seq <= upto, events.c.type.in_(EVENT_TYPES))
            .order_by(events.c.seq)
        ).all()
        by_site: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            by_site[row.site_id].append(row)
        now = now_ms()
        for site_id in sorted(by_site):  # one lock order for every writer: no deadlocks
            lock_site(conn, site_id)
            _apply_site(conn, site_id, by_site[site_id], now)


def _new_product(site_id: str, generation: int, key: str, now: int) -> dict[str, Any]:
    row: dict[str, Any] = {c.name: None for c in P.columns}
    row.update(
        site_id=site_id,
        generation=generation,
        product_key=key,
        price_source=SOURCE_UPDATE,
        price_at=0,
        stock_source=SOURCE_UPDATE,
        stock_at=0,
        details_source=SOURCE_UPDATE,
        details_at=0,
        categories="[]",
        attributes="{}",
        search_text=key.lower(),
        updated_at=now,
    )
    return row


def _category_paths(extra: dict[str, Any]) -> list[str] | None:
    values: list[Any] = []
    for name in ("category", "category_id"):
        value = extra.get(name)
        if value is None or value == "":
            continue
        values.extend(value if isinstance(value, list) else [value])
    if not values:
        return None
    paths: list[str] = []
    for value in values:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            path = normalize_path(str(value))
            if path and path not in paths:
                paths.append(path)
    return paths


def _apply_details(row: dict[str, Any], product: dict[str, Any], at: int) -> None:
    extra = product.get("extra")
    extra = extra if isinstance(extra, dict) else {}
    for name, column in _DETAILS.items():
        value = extra.get(name)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            row[column] = str(value)
    paths = _category_paths(extra)
    if paths is not None:
        row["categories"] = dumps(paths)
    attributes = product.get("attributes")
    if isinstance(attributes, dict) and attributes:
        merged = loads_dict(row["attributes"])
        for name, values in attributes.items():
            listed = values if isinstance(values, list) else [values]
            merged[attribute_name(str(name))] = [str(v) for v in listed]
        row["attributes"] = dumps(merged)
    row["search_text"] = search_text(row["product_key"], row["title"], row["brand"])
    row["details_source"], row["details_at"] = SOURCE_UPDATE, at


def _apply_event(
    row: dict[str, Any], product: dict[str, Any], source: str, at: int, event_id: str
) -> dict[str, Any] | None:
    """Apply one event's values to one product row; the history row when price/stock moved."""
    old_price, old_stock = row["price"], row["in_stock"]
    price, stock = product.get("price"), product.get("in_stock")
    currency = product.get("currency")
    if not isinstance(currency, str) or len(currency) > 8:
        currency = None
    touched = False
    if (
        isinstance(price, int | float)
        and not isinstance(price, bool)
        and at >= row["price_at"]
        and (price != row["price"] or (currency and currency != row["currency"]))
    ):
        row["price"], row["price_source"], row["price_at"] = float(price), source, at
        row["currency"] = currency or row["currency"]
        touched = True
    if isinstance(stock, bool) and at >= row["stock_at"] and stock != row["in_stock"]:
        row["in_stock"], row["stock_source"], row["stock_at"] = stock, source, at
        touched = True
    if source == SOURCE_UPDATE and at >= row["details_at"]:
        _apply_details(row, product, at)
        touched = True
    if touched:
        row["event_at"] = max(row["event_at"] or 0, at)
    if row["price"] == old_price and row["in_stock"] == old_stock:
        return None
    return history_row(
        row["site_id"],
        row["product_key"],
        at,
        source,
        price=row["price"],
        old_price=old_price,
        currency=row["currency"],
        in_stock=row["in_stock"],
        old_in_stock=old_stock,
        ref=event_id,
    )


def _products(event: Any) -> list[dict[str, Any]]:
    """The event's products that can be catalogue rows (an odd one must never block the log)."""
    products = event.get("products") if isinstance(event, dict) else None
    return [
        p
        for p in products or ()
        if isinstance(p, dict)
        and isinstance(p.get("key"), str)
        and 0 < len(p["key"]) <= MAX_KEY_LENGTH
    ]


def _apply_site(conn: Connection, site_id: str, rows: list[Any], now: int) -> None:
    generation = read_state(conn, site_id).generation
    parsed: list[tuple[Any, list[dict[str, Any]]]] = []
    keys: set[str] = set()
    for row in rows:
        products = _products(orjson.loads(row.data))
        parsed.append((row, products))
        keys.update(str(p["key"]) for p in products)
    current: dict[str, dict[str, Any]] = {}
    for part in chunks(sorted(keys)):
        stmt = select(P).where(
            P.c.site_id == site_id, P.c.generation == generation, P.c.product_key.in_(part)
        )
        current.update({r["product_key"]: dict(r) for r in conn.execute(stmt).mappings()})
    original_categories = {key: row["categories"] for key, row in current.items()}
    created: set[str] = set()
    touched: set[str] = set()
    history: list[dict[str, Any]] = []
    for event, products in parsed:
        source = SOURCE_UPDATE if event.type == "ProductUpdate" else SOURCE_PAGE
        for product in products:
            key = str(product["key"])
            row = current.get(key)
            if row is None:
                if source == SOURCE_PAGE:
                    continue
                row = current[key] = _new_product(site_id, generation, key, now)
                created.add(key)
            entry = _apply_event(row, product, source, event.occurred_at, event.event_id)
            if entry is not None:
                history.append(entry)
            touched.add(key)
    for key in touched:
        current[key]["updated_at"] = now
    if created:
        conn.execute(P.insert(), [current[k] for k in sorted(created)])
    changed = sorted(touched - created)
    if changed:
        change = (
            update(P)
            .where(
                P.c.site_id == bindparam("k_site"),
                P.c.generation == bindparam("k_generation"),
                P.c.product_key == bindparam("k_key"),
            )
            .values({c: bindparam(c) for c in _MUTABLE})
        )
        params = [
            {
                "k_site": site_id,
                "k_generation": generation,
                "k_key": key,
                **{c: current[key][c] for c in _MUTABLE},
            }
            for key in changed
        ]
        conn.execute(change, params)
    known: set[int] = set()
    for key in sorted(touched):
        before, after = original_categories.get(key, "[]"), current[key]["categories"]
        if before != after:
            new_paths = loads_list(after)
            insert_categories(conn, category_rows(site_id, new_paths, known))
            replace_links(conn, site_id, generation, key, loads_list(before), new_paths)
    insert_history(conn, history)
