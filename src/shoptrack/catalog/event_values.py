"""Events into the catalogue: a processor of the event log (run by ``shoptrack.processing.runner``).

Feeds and ``ProductUpdate`` are the truth; page views are what one visitor saw.

* ``ProductUpdate`` (server-side, needs the API key) sets any field of a product and creates
  products the feed does not have.
* A ``ProductPage`` — from the browser (``/webevent``, source ``browser``) or the REST API
  (``/api/v2``, source ``page``; neither needs the key) — is one visitor's report: it changes
  a known product's price or stock only when enough distinct visitors agree
  (``catalog/quorum.py``). Browser events from bots are ignored.
* Any page view of a product no feed or update knows creates it with the fields it carries.

An event's values apply when the event is at least as new as the value it replaces (its
``occurred_at`` against the value's time), so a processor that lags behind an import never
rolls the import back. Page and browser values last until the next import of the product's
feed, which replaces them; ``ProductUpdate`` values win until an import changes the feed's
value (see ``generations``). Every price or stock change is written to the history with its
source.

The worker's runner owns the cursor (``processor_cursors``, name ``catalog``): it hands each
batch ``after < seq <= upto`` to :meth:`CatalogEventProcessor.handle` inside the transaction
that also moves the cursor, so a batch is applied exactly once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, select, update

from shoptrack.catalog.fields import (
    LINK_FIELDS,
    MAX_KEY_LENGTH,
    attribute_name,
    normalize_path,
    web_address,
)
from shoptrack.catalog.quorum import (
    PRICE,
    STOCK,
    BrowserReports,
    QuorumRule,
    Report,
    price_value,
    reporter,
    rest_reporter,
    stock_value,
)
from shoptrack.catalog.store_ops import (
    SOURCE_BROWSER,
    SOURCE_PAGE,
    SOURCE_UPDATE,
    category_rows,
    dumps,
    history_row,
    insert_categories,
    insert_history,
    loads_dict,
    loads_list,
    lock_site,
    read_state,
    replace_links,
    search_text,
)
from shoptrack.events.traffic import agent_is_bot
from shoptrack.store.sql import chunks, now_ms
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


BROWSER = "browser"  # events.source of /webevent


@dataclass(frozen=True, slots=True)
class _Event:
    """One log event as this processor reads it."""

    row: Any
    source: str  # SOURCE_UPDATE, SOURCE_PAGE or SOURCE_BROWSER
    reporter: str | None  # the visitor a browser event counts for, when it counts
    products: list[dict[str, Any]]


class CatalogEventProcessor:
    """``ProductUpdate`` and ``ProductPage`` events into the live catalogue."""

    name = "catalog"

    def __init__(self, rule: QuorumRule | None = None) -> None:
        self.rule = rule or QuorumRule()

    def handle(self, conn: Connection, after: int, upto: int) -> None:
        rows = conn.execute(
            select(
                events.c.seq,
                events.c.site_id,
                events.c.type,
                events.c.event_id,
                events.c.occurred_at,
                events.c.source,
                events.c.visitor_id,
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
            _apply_site(conn, site_id, by_site[site_id], now, self.rule)


def _read_event(row: Any) -> _Event | None:
    """The event with its trust: None for a bot's browser event (bots never change anything)."""
    data = orjson.loads(row.data)
    data = data if isinstance(data, dict) else {}
    if row.source == BROWSER:  # whatever its type claims: no key was needed to send it
        if agent_is_bot(data):
            return None
        return _Event(row, SOURCE_BROWSER, reporter(data, row.visitor_id), _products(data))
    if row.type == "ProductUpdate":  # the only event that needs the site's API key
        return _Event(row, SOURCE_UPDATE, None, _products(data))
    # A page view sent to /api/v2 needs no key either: one visitor's report, like a browser's
    # (its user agent is the shop's server, so it is not judged a bot by it).
    return _Event(row, SOURCE_PAGE, rest_reporter(row.visitor_id), _products(data))


def _new_product(site_id: str, generation: int, key: str, source: str, now: int) -> dict[str, Any]:
    row: dict[str, Any] = {c.name: None for c in P.columns}
    row.update(
        site_id=site_id,
        generation=generation,
        product_key=key,
        price_source=source,
        price_at=0,
        stock_source=source,
        stock_at=0,
        details_source=source,
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


def _apply_details(row: dict[str, Any], product: dict[str, Any], source: str, at: int) -> None:
    extra = product.get("extra")
    extra = extra if isinstance(extra, dict) else {}
    for name, column in _DETAILS.items():
        value = extra.get(name)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            text = str(value)
            if column in LINK_FIELDS and web_address(text) is None:
                continue  # javascript:, data: …: never a product's link or image
            row[column] = text
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
    row["details_source"], row["details_at"] = source, at


def _price(product: dict[str, Any]) -> float | None:
    price = product.get("price")
    if isinstance(price, int | float) and not isinstance(price, bool):
        return float(price)
    return None


def _currency(product: dict[str, Any]) -> str | None:
    currency = product.get("currency")
    return currency if isinstance(currency, str) and 0 < len(currency) <= 8 else None


def _stock(product: dict[str, Any]) -> bool | None:
    stock = product.get("in_stock")
    return stock if isinstance(stock, bool) else None


def _new_price(row: dict[str, Any], product: dict[str, Any], at: int) -> float | None:
    """The product's price when it would change the row (and is not older than its value)."""
    price, currency = _price(product), _currency(product)
    if price is None or at < row["price_at"]:
        return None
    if price != row["price"] or (currency and currency != row["currency"]):
        return price
    return None


def _new_stock(row: dict[str, Any], product: dict[str, Any], at: int) -> bool | None:
    stock = _stock(product)
    if stock is None or at < row["stock_at"] or stock == row["in_stock"]:
        return None
    return stock


def _reports(event: _Event) -> list[Report]:
    """What a counting browser event says about each of its products."""
    if event.reporter is None:
        return []
    out: list[Report] = []
    at = event.row.occurred_at
    for product in event.products:
        key = str(product["key"])
        price, stock = _price(product), _stock(product)
        if price is not None:
            value = price_value(price, _currency(product))
            out.append(Report(key, PRICE, value, event.reporter, at))
        if stock is not None:
            out.append(Report(key, STOCK, stock_value(stock), event.reporter, at))
    return out


def _apply_event(
    row: dict[str, Any],
    product: dict[str, Any],
    event: _Event,
    reports: BrowserReports,
    created: bool,
) -> dict[str, Any] | None:
    """Apply one event's values to one product row; the history row when price/stock moved.

    A page view's value (browser or REST) replaces a known product's only when visitors agree.
    """
    at, source = event.row.occurred_at, event.source
    old_price, old_stock = row["price"], row["in_stock"]
    price, stock = _new_price(row, product, at), _new_stock(row, product, at)
    currency = _currency(product)
    if source in (SOURCE_BROWSER, SOURCE_PAGE) and not created:
        key = row["product_key"]
        if price is not None and not reports.agreed(
            key, PRICE, price_value(price, currency), at, row["price_at"]
        ):
            price = None
        if stock is not None and not reports.agreed(
            key, STOCK, stock_value(stock), at, row["stock_at"]
        ):
            stock = None
    touched = False
    if price is not None:
        row["price"], row["price_source"], row["price_at"] = price, source, at
        row["currency"] = currency or row["currency"]
        touched = True
    if stock is not None:
        row["in_stock"], row["stock_source"], row["stock_at"] = stock, source, at
        touched = True
    if (source == SOURCE_UPDATE or created) and at >= row["details_at"]:
        _apply_details(row, product, source, at)
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
        ref=event.row.event_id,
    )


def _products(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The event's products that can be catalogue rows (an odd one must never block the log)."""
    products = event.get("products")
    listed = products if isinstance(products, list) else []
    return [
        p
        for p in listed
        if isinstance(p, dict)
        and isinstance(p.get("key"), str)
        and 0 < len(p["key"]) <= MAX_KEY_LENGTH
    ]


def _apply_site(
    conn: Connection, site_id: str, rows: list[Any], now: int, rule: QuorumRule
) -> None:
    generation = read_state(conn, site_id).generation
    parsed = [event for event in map(_read_event, rows) if event is not None]
    keys = {str(p["key"]) for event in parsed for p in event.products}
    current: dict[str, dict[str, Any]] = {}
    for part in chunks(sorted(keys)):
        stmt = select(P).where(
            P.c.site_id == site_id, P.c.generation == generation, P.c.product_key.in_(part)
        )
        current.update({r["product_key"]: dict(r) for r in conn.execute(stmt).mappings()})
    original_categories = {key: row["categories"] for key, row in current.items()}
    reports = BrowserReports(conn, site_id, rule)
    reports.record(report for event in parsed for report in _reports(event))
    created: set[str] = set()
    touched: set[str] = set()
    history: list[dict[str, Any]] = []
    for event in parsed:
        for product in event.products:
            key = str(product["key"])
            row = current.get(key)
            fresh = row is None
            if row is None:  # a product nobody else knows: the first event fills it in
                row = current[key] = _new_product(site_id, generation, key, event.source, now)
                created.add(key)
            before = dict(row)
            entry = _apply_event(row, product, event, reports, fresh)
            if entry is not None:
                history.append(entry)
            if fresh or row != before:  # most page views change nothing: write nothing
                touched.add(key)
    reports.prune(now)
    _write(conn, site_id, generation, current, created, touched, now)
    known: set[int] = set()
    for key in sorted(touched):
        before, after = original_categories.get(key, "[]"), current[key]["categories"]
        if before != after:
            new_paths = loads_list(after)
            insert_categories(conn, category_rows(site_id, new_paths, known))
            replace_links(conn, site_id, generation, key, loads_list(before), new_paths)
    insert_history(conn, history)


def _write(
    conn: Connection,
    site_id: str,
    generation: int,
    current: dict[str, dict[str, Any]],
    created: set[str],
    touched: set[str],
    now: int,
) -> None:
    for key in touched:
        current[key]["updated_at"] = now
    if created:
        conn.execute(P.insert(), [current[k] for k in sorted(created)])
    changed = sorted(touched - created)
    if not changed:
        return
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
