"""Reading the live catalogue: products with filters, one product with its history, the tree."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, select

from shoptrack.catalog.categories import CategoryIndex, link_counts
from shoptrack.catalog.feeds import import_json
from shoptrack.catalog.store_ops import live_generation_expr, loads_dict, loads_list, read_state
from shoptrack.events.model import iso_ms
from shoptrack.store.tables import (
    catalog_history,
    catalog_imports,
    catalog_product_categories,
    catalog_products,
)

P = catalog_products


def product_json(row: Any) -> dict[str, Any]:
    return {
        "key": row.product_key,
        "title": row.title,
        "description": row.description,
        "link": row.link,
        "image_link": row.image_link,
        "brand": row.brand,
        "price": row.price,
        "currency": row.currency,
        "regular_price": row.regular_price,
        "sale_price": row.sale_price,
        "in_stock": row.in_stock,
        "availability": row.availability,
        "categories": loads_list(row.categories),
        "item_group_id": row.item_group_id,
        "is_new": row.is_new,
        "attributes": loads_dict(row.attributes),
        "feed_id": row.feed_id,
        "price_source": row.price_source,
        "price_at": iso_ms(row.price_at),
        "stock_source": row.stock_source,
        "stock_at": iso_ms(row.stock_at),
        "updated_at": iso_ms(row.updated_at),
    }


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class CatalogQueries:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def products(
        self,
        site_id: str,
        *,
        category: str | None = None,
        q: str | None = None,
        in_stock: bool | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            # The live generation inside the statement: one snapshot even during a switch.
            generation = live_generation_expr(site_id)
            stmt = select(P).where(P.c.site_id == site_id, P.c.generation == generation)
            if category:
                ids = CategoryIndex.load(conn, site_id).match(category)
                if not ids:
                    return []
                links = catalog_product_categories
                stmt = stmt.where(
                    exists().where(
                        and_(
                            links.c.site_id == site_id,
                            links.c.generation == generation,
                            links.c.category_id.in_(sorted(ids)),
                            links.c.product_key == P.c.product_key,
                        )
                    )
                )
            if q:
                stmt = stmt.where(P.c.search_text.like(f"%{_escape_like(q.lower())}%", escape="\\"))
            if in_stock is not None:
                stmt = stmt.where(P.c.in_stock.is_(True) if in_stock else P.c.in_stock.is_not(True))
            if after:
                stmt = stmt.where(P.c.product_key > after)
            stmt = stmt.order_by(P.c.product_key).limit(limit)
            return [product_json(row) for row in conn.execute(stmt)]

    def product(self, site_id: str, key: str, history_limit: int = 200) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            generation = live_generation_expr(site_id)
            row = conn.execute(
                select(P).where(
                    P.c.site_id == site_id, P.c.generation == generation, P.c.product_key == key
                )
            ).first()
            if row is None:
                return None
            out = product_json(row)
            out["history"] = history(conn, site_id, key, history_limit)
            return out

    def recent_imports(
        self, site_id: str, limit: int = 10, *, feed_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The site's newest imports (of every feed, or of ``feed_id``), newest first.

        Each is the API's import record plus its times in ms and its duration (None while it
        runs), which the dashboard shows and sorts by.
        """
        i = catalog_imports.c
        stmt = select(catalog_imports).where(i.site_id == site_id)
        if feed_id is not None:
            stmt = stmt.where(i.feed_id == feed_id)
        stmt = stmt.order_by(i.started_at.desc(), i.import_id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_import_record(row) for row in conn.execute(stmt)]

    def import_record(self, site_id: str, import_id: str) -> dict[str, Any] | None:
        """One import as :meth:`recent_imports` gives it, or None."""
        i = catalog_imports.c
        stmt = select(catalog_imports).where(i.site_id == site_id, i.import_id == import_id)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return _import_record(row) if row is not None else None

    def price_history(self, site_id: str, key: str, limit: int = 500) -> list[dict[str, Any]]:
        """A product's price and stock changes, oldest first, times in ms (for charts)."""
        h = catalog_history.c
        newest = (
            select(catalog_history)
            .where(h.site_id == site_id, h.product_key == key)
            .order_by(h.at.desc(), h.source)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(newest).all()
        return [
            {
                "at_ms": int(r.at),
                "source": r.source,
                "price": r.price,
                "old_price": r.old_price,
                "currency": r.currency,
                "in_stock": r.in_stock,
                "old_in_stock": r.old_in_stock,
                "ref": r.ref,
            }
            for r in reversed(rows)
        ]

    def category_tree(self, site_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            generation = read_state(conn, site_id).generation
            counts = link_counts(conn, site_id, generation)
            return CategoryIndex.load(conn, site_id).tree(counts)


def _import_record(row: Any) -> dict[str, Any]:
    finished = row.finished_at
    return {
        **import_json(row),
        "started_at_ms": int(row.started_at),
        "finished_at_ms": int(finished) if finished is not None else None,
        "duration_ms": int(finished - row.started_at) if finished is not None else None,
    }


def history(conn: Connection, site_id: str, key: str, limit: int) -> list[dict[str, Any]]:
    h = catalog_history
    rows = conn.execute(
        select(h)
        .where(h.c.site_id == site_id, h.c.product_key == key)
        .order_by(h.c.at.desc(), h.c.source)
        .limit(limit)
    )
    return [
        {
            "at": iso_ms(r.at),
            "source": r.source,
            "price": r.price,
            "old_price": r.old_price,
            "currency": r.currency,
            "in_stock": r.in_stock,
            "old_in_stock": r.old_in_stock,
            "ref": r.ref,
        }
        for r in rows
    ]
