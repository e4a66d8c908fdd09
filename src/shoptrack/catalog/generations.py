"""An import's steps on the tables: take the site's lease, load a staging generation, switch.

The live catalogue of a site is the generation ``catalog_state.generation`` names. An import
writes every item into a new generation in short batch transactions (readers never look at
it), then :func:`switch` makes it live in one transaction under the site lock:

1. products the feed does not own (other feeds', ``ProductUpdate``-only ones) are copied over;
2. ``ProductUpdate`` values are carried over where the new feed did not change the feed's
   value, or where the update is newer than the feed's download (an update wins until an
   import changes that value); values from page views (``page``, ``browser``) are not: the
   feed's value replaces them, with a history row, so a browser value never outlives the
   next import of its product's feed;
3. ``catalog_state.generation`` points at the new generation.

The old generation is deleted afterwards. If anything fails before the switch, the staging
generation is deleted and the live catalogue was never touched. A lease in ``catalog_state``
keeps a second import of the same site from running at the same time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select, update

from shoptrack.catalog.errors import FeedError, FeedErrorCode
from shoptrack.catalog.fields import FeedItem
from shoptrack.catalog.report import ImportReport
from shoptrack.catalog.store_ops import (
    PAGE_VIEW_SOURCES,
    SOURCE_FEED,
    SOURCE_UPDATE,
    category_rows,
    delete_generation,
    dumps,
    ensure_state,
    history_row,
    insert_categories,
    insert_history,
    insert_rows,
    link_rows,
    loads_list,
    lock_site,
    read_state,
    replace_links,
    search_text,
)
from shoptrack.store.sql import chunks
from shoptrack.store.tables import (
    catalog_history,
    catalog_product_categories,
    catalog_products,
    catalog_state,
)

P = catalog_products
_PRICE_COLUMNS = ("price", "currency", "price_source", "price_at")
_STOCK_COLUMNS = ("in_stock", "stock_source", "stock_at")
_DETAIL_COLUMNS = (
    "title",
    "description",
    "link",
    "image_link",
    "brand",
    "categories",
    "attributes",
    "search_text",
    "details_source",
    "details_at",
)
MAX_KNOWN_CATEGORIES = 200_000


@dataclass(slots=True)
class Lease:
    site_id: str
    owner: str
    ttl_ms: int
    live: int = 0
    new: int = 0


@dataclass(slots=True)
class Staging:
    """What the batches of one import share."""

    site_id: str
    feed_id: str
    import_id: str
    fetched_at: int
    live: int
    new: int
    known_categories: set[int] = field(default_factory=set)
    kept_existing: int = 0  # items that were this feed's products in the live generation


def acquire(engine: Engine, lease: Lease, now: int) -> None:
    """Take the site's import lease and a fresh staging generation, clearing stale ones."""
    with engine.begin() as conn:
        lock_site(conn, lease.site_id)
        state = read_state(conn, lease.site_id)
        if state.lease_owner and (state.lease_until or 0) >= now:
            raise FeedError(FeedErrorCode.BUSY, "another import of this site is running")
        conn.execute(
            update(catalog_state)
            .where(catalog_state.c.site_id == lease.site_id)
            .values(lease_owner=lease.owner, lease_until=now + lease.ttl_ms, updated_at=now)
        )
    # Left by an import that crashed, or by a switch whose clean-up was interrupted.
    for stale in {state.pending_generation, state.retired_generation} - {None, state.generation}:
        assert stale is not None
        delete_generation(engine, lease.site_id, stale)
    with engine.begin() as conn:
        lock_site(conn, lease.site_id)
        state = read_state(conn, lease.site_id)
        lease.live, lease.new = state.generation, state.next_generation
        conn.execute(
            update(catalog_state)
            .where(catalog_state.c.site_id == lease.site_id)
            .values(
                pending_generation=lease.new,
                retired_generation=None,
                next_generation=lease.new + 1,
            )
        )


def analyze(engine: Engine) -> None:
    """PostgreSQL: fresh planner statistics for the tables an import is filling.

    Without them (autovacuum off, or not yet run during a bulk load) the planner may pick the
    wrong index for the per-batch key lookups and scan the whole growing generation.
    """
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "ANALYZE catalog_products, catalog_product_categories, catalog_history"
            )


def renew(conn: Connection, lease: Lease, now: int) -> None:
    result = conn.execute(
        update(catalog_state)
        .where(catalog_state.c.site_id == lease.site_id, catalog_state.c.lease_owner == lease.owner)
        .values(lease_until=now + lease.ttl_ms)
    )
    if result.rowcount != 1:
        raise FeedError(FeedErrorCode.BUSY, "the import lost its lease to another import")


def release(engine: Engine, lease: Lease, *, discard: bool) -> None:
    """Give the lease back; ``discard`` deletes the staging generation (a failed import)."""
    if discard and lease.new:
        delete_generation(engine, lease.site_id, lease.new)
    with engine.begin() as conn:
        values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
        if discard:
            values["pending_generation"] = None
        conn.execute(
            update(catalog_state)
            .where(
                catalog_state.c.site_id == lease.site_id,
                catalog_state.c.lease_owner == lease.owner,
            )
            .values(**values)
        )


def product_row(staging: Staging, item: FeedItem) -> dict[str, Any]:
    at = staging.fetched_at
    return {
        "site_id": staging.site_id,
        "generation": staging.new,
        "product_key": item.key,
        "feed_id": staging.feed_id,
        "title": item.title,
        "description": item.description,
        "link": item.link,
        "image_link": item.image_link,
        "brand": item.brand,
        "availability": item.availability,
        "item_group_id": item.item_group_id,
        "is_new": item.is_new,
        "currency": item.currency,
        "regular_price": item.regular_price,
        "sale_price": item.sale_price,
        "feed_price": item.price,
        "feed_in_stock": item.in_stock,
        "price": item.price,
        "in_stock": item.in_stock,
        "price_source": SOURCE_FEED,
        "price_at": at,
        "stock_source": SOURCE_FEED,
        "stock_at": at,
        "details_source": SOURCE_FEED,
        "details_at": at,
        "event_at": None,
        "categories": dumps(item.categories),
        "attributes": dumps(item.attributes),
        "search_text": search_text(item.key, item.title, item.brand),
        "updated_at": at,
    }


def write_batch(
    conn: Connection, staging: Staging, items: list[FeedItem], report: ImportReport
) -> None:
    """Stage one batch of items: products, their category links and nodes, feed history."""
    unique: dict[str, FeedItem] = {}
    for item in items:
        first = unique.get(item.key)
        if first is not None:
            report.duplicate(item.key, item.line, first.line)
        else:
            unique[item.key] = item
    keys = list(unique)
    previous: dict[str, Any] = {}
    staged: set[str] = set()
    stmt = select(P.c.generation, P.c.product_key, P.c.feed_id, P.c.feed_price, P.c.feed_in_stock)
    for part in chunks(keys):
        where = and_(
            P.c.site_id == staging.site_id,
            P.c.generation.in_([staging.live, staging.new]),
            P.c.product_key.in_(part),
        )
        for row in conn.execute(stmt.where(where)):
            if row.generation == staging.new:
                staged.add(row.product_key)
            else:
                previous[row.product_key] = row
    products: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    paths: set[str] = set()
    for key, item in unique.items():
        if key in staged:  # an item of an earlier batch had this id: the first one counts
            report.duplicate(key, item.line, None)
            continue
        report.product(item)
        products.append(product_row(staging, item))
        links.extend(link_rows(staging.site_id, staging.new, key, item.categories))
        paths.update(item.categories)
        old = previous.get(key)
        if old is None:
            report.new_products += 1
        elif old.feed_id == staging.feed_id:
            staging.kept_existing += 1
        if old is None or old.feed_price != item.price or old.feed_in_stock != item.in_stock:
            history.append(
                history_row(
                    staging.site_id,
                    key,
                    staging.fetched_at,
                    SOURCE_FEED,
                    price=item.price,
                    old_price=old.feed_price if old is not None else None,
                    currency=item.currency,
                    in_stock=item.in_stock,
                    old_in_stock=old.feed_in_stock if old is not None else None,
                    ref=staging.import_id,
                )
            )
    if len(staging.known_categories) > MAX_KNOWN_CATEGORIES:
        staging.known_categories.clear()  # only a cache of rows already written
    insert_rows(conn, P, products)
    insert_rows(conn, catalog_product_categories, links)
    insert_categories(conn, category_rows(staging.site_id, sorted(paths), staging.known_categories))
    insert_rows(conn, catalog_history, history)


def switch(conn: Connection, lease: Lease, staging: Staging, report: ImportReport) -> None:
    """Make the staging generation live (the caller's transaction; see the module doc)."""
    lock_site(conn, lease.site_id)
    state = read_state(conn, lease.site_id)
    if state.lease_owner != lease.owner or state.generation != staging.live:
        raise FeedError(FeedErrorCode.BUSY, "the import lost its lease to another import")
    report.kept_other_sources = _copy_forward(conn, staging)
    report.kept_from_updates, report.page_values_replaced = _carry_update_values(conn, staging)
    owned = conn.execute(
        select(func.count())
        .select_from(P)
        .where(
            P.c.site_id == staging.site_id,
            P.c.generation == staging.live,
            P.c.feed_id == staging.feed_id,
        )
    ).scalar_one()
    report.removed_products = int(owned) - staging.kept_existing
    conn.execute(
        update(catalog_state)
        .where(catalog_state.c.site_id == lease.site_id)
        .values(
            generation=staging.new,
            pending_generation=None,
            retired_generation=staging.live,
        )
    )


def _copy_forward(conn: Connection, staging: Staging) -> int:
    """Copy the live products this feed does not own into the new generation."""
    others = and_(
        P.c.site_id == staging.site_id,
        P.c.generation == staging.live,
        or_(P.c.feed_id.is_(None), P.c.feed_id != staging.feed_id),
    )
    if not conn.execute(select(func.count()).select_from(P).where(others)).scalar_one():
        return 0
    copied, last = 0, ""
    while True:
        rows = (
            conn.execute(
                select(P).where(others, P.c.product_key > last).order_by(P.c.product_key).limit(500)
            )
            .mappings()
            .all()
        )
        if not rows:
            return copied
        last = rows[-1]["product_key"]
        present = set(
            conn.execute(
                select(P.c.product_key).where(
                    P.c.site_id == staging.site_id,
                    P.c.generation == staging.new,
                    P.c.product_key.in_([r["product_key"] for r in rows]),
                )
            ).scalars()
        )
        fresh = [dict(r, generation=staging.new) for r in rows if r["product_key"] not in present]
        if fresh:
            insert_rows(conn, P, fresh)
            links = [
                link
                for r in fresh
                for link in link_rows(
                    staging.site_id, staging.new, r["product_key"], loads_list(r["categories"])
                )
            ]
            insert_rows(conn, catalog_product_categories, links)
        copied += len(fresh)


def _carry_update_values(conn: Connection, staging: Staging) -> tuple[int, int]:
    """Keep ``ProductUpdate`` values the new feed did not change (or that are newer than it);
    replace page-view values with the feed's. (products kept, products replaced)"""
    carried = replaced = 0
    last = ""
    overridden = and_(
        P.c.site_id == staging.site_id,
        P.c.generation == staging.live,
        P.c.event_at.is_not(None),
    )
    if not conn.execute(select(func.count()).select_from(P).where(overridden)).scalar_one():
        return 0, 0  # the common case, answered from the index without a scan
    while True:
        old_rows = (
            conn.execute(
                select(P)
                .where(overridden, P.c.product_key > last)
                .order_by(P.c.product_key)
                .limit(500)
            )
            .mappings()
            .all()
        )
        if not old_rows:
            return carried, replaced
        last = old_rows[-1]["product_key"]
        new_rows = {
            r["product_key"]: r
            for r in conn.execute(
                select(P).where(
                    P.c.site_id == staging.site_id,
                    P.c.generation == staging.new,
                    P.c.feed_id == staging.feed_id,
                    P.c.product_key.in_([r["product_key"] for r in old_rows]),
                )
            ).mappings()
        }
        history: list[dict[str, Any]] = []
        for old in old_rows:
            new = new_rows.get(old["product_key"])
            if new is None:
                continue
            if old["price_source"] in PAGE_VIEW_SOURCES or old["stock_source"] in PAGE_VIEW_SOURCES:
                replaced += 1
            values = _carried_values(old, new, staging.fetched_at)
            final = {**new, **(values or {})}
            if (final["price"], final["in_stock"]) != (old["price"], old["in_stock"]):
                history.append(_replacement_history(staging, old, final))
            if values is None:
                continue
            carried += 1
            if values["categories"] != new["categories"]:
                replace_links(
                    conn,
                    staging.site_id,
                    staging.new,
                    new["product_key"],
                    loads_list(new["categories"]),
                    loads_list(values["categories"]),
                )
            conn.execute(
                update(P)
                .where(
                    P.c.site_id == staging.site_id,
                    P.c.generation == staging.new,
                    P.c.product_key == new["product_key"],
                )
                .values(**values)
            )
        # The live value moved from an event's to the feed's: that change is the import's.
        insert_history(conn, history, replace_old=True)


def _replacement_history(staging: Staging, old: Any, final: dict[str, Any]) -> dict[str, Any]:
    return history_row(
        staging.site_id,
        old["product_key"],
        staging.fetched_at,
        SOURCE_FEED,
        price=final["price"],
        old_price=old["price"],
        currency=final["currency"],
        in_stock=final["in_stock"],
        old_in_stock=old["in_stock"],
        ref=staging.import_id,
    )


def _carried_values(old: Any, new: Any, fetched: int) -> dict[str, Any] | None:
    values: dict[str, Any] = {}
    event_times: list[int] = []
    if old["price_source"] == SOURCE_UPDATE and (
        old["feed_price"] == new["feed_price"] or old["price_at"] > fetched
    ):
        values.update({c: old[c] for c in _PRICE_COLUMNS})
        event_times.append(old["price_at"])
    if old["stock_source"] == SOURCE_UPDATE and (
        old["feed_in_stock"] == new["feed_in_stock"] or old["stock_at"] > fetched
    ):
        values.update({c: old[c] for c in _STOCK_COLUMNS})
        event_times.append(old["stock_at"])
    if old["details_source"] == SOURCE_UPDATE and old["details_at"] > fetched:
        values.update({c: old[c] for c in _DETAIL_COLUMNS})
        event_times.append(old["details_at"])
    if not values:
        return None
    values.setdefault("categories", new["categories"])
    values["event_at"] = max(event_times)
    return values


def ensure_site_state(engine: Engine, site_id: str) -> None:
    with engine.begin() as conn:
        ensure_state(conn, site_id)
