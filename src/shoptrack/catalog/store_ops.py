"""Small table-level steps shared by the import, the event processor and the readers.

Writers of one site's catalogue (the switch to a new generation, the event processor) call
:func:`lock_site` first: on PostgreSQL a transaction-scoped advisory lock per site, on SQLite
a write to the site's ``catalog_state`` row, which takes the database's write lock before the
transaction reads anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, Table, func, select, tuple_, update
from sqlalchemy.sql.dml import Insert

from shoptrack.catalog.fields import category_id, category_nodes
from shoptrack.store.sql import insert_for, now_ms, pg_site_lock
from shoptrack.store.tables import (
    catalog_categories,
    catalog_history,
    catalog_product_categories,
    catalog_products,
    catalog_state,
)

SOURCE_FEED = "feed"
SOURCE_UPDATE = "update"
SOURCE_PAGE = "page"  # a ProductPage sent with the API key
SOURCE_BROWSER = "browser"  # a page view from /webevent: no key, anyone may send it
PAGE_VIEW_SOURCES = (SOURCE_PAGE, SOURCE_BROWSER)  # what a visitor saw: an import replaces it
DELETE_CHUNK = 20_000


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """A plain INSERT of many rows through the driver's ``executemany``.

    Bulk writes of an import skip SQLAlchemy's per-row parameter processing (a third of the
    import's time otherwise); the rows are plain values of the table's column types.
    """
    if not rows:
        return
    columns = list(rows[0])
    quote = conn.dialect.identifier_preparer.quote
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join([marker] * len(columns))})"
    )
    conn.exec_driver_sql(sql, [tuple(row[c] for c in columns) for row in rows])


def ensure_state(conn: Connection, site_id: str) -> None:
    stmt: Insert = insert_for(conn, catalog_state).values(site_id=site_id, updated_at=now_ms())
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["site_id"]))  # type: ignore[attr-defined]


def lock_site(conn: Connection, site_id: str) -> None:
    """Serialize the writers of one site's live catalogue until the transaction ends."""
    ensure_state(conn, site_id)
    if conn.dialect.name == "postgresql":
        pg_site_lock(conn, "shoptrack-catalog", site_id)
    else:
        conn.execute(
            update(catalog_state)
            .where(catalog_state.c.site_id == site_id)
            .values(updated_at=catalog_state.c.updated_at)
        )


@dataclass(frozen=True, slots=True)
class State:
    generation: int
    next_generation: int
    pending_generation: int | None
    retired_generation: int | None
    lease_owner: str | None
    lease_until: int | None


def read_state(conn: Connection, site_id: str) -> State:
    row = conn.execute(select(catalog_state).where(catalog_state.c.site_id == site_id)).first()
    if row is None:
        return State(0, 1, None, None, None, None)
    return State(
        row.generation,
        row.next_generation,
        row.pending_generation,
        row.retired_generation,
        row.lease_owner,
        row.lease_until,
    )


def live_generation_expr(site_id: str) -> Any:
    """SQL for the site's live generation, to read products in one consistent statement."""
    return func.coalesce(
        select(catalog_state.c.generation)
        .where(catalog_state.c.site_id == site_id)
        .scalar_subquery(),
        0,
    )


def delete_generation(engine: Engine, site_id: str, generation: int) -> int:
    """Delete one generation's rows in chunks (short transactions: SQLite writers get turns)."""
    deleted = 0
    links, products = catalog_product_categories, catalog_products
    for table, key in (
        (links, tuple_(links.c.category_id, links.c.product_key)),
        (products, products.c.product_key),
    ):
        while True:
            columns = (
                [links.c.category_id, links.c.product_key]
                if table is links
                else [products.c.product_key]
            )
            inner = (
                select(*columns)
                .where(table.c.site_id == site_id, table.c.generation == generation)
                .limit(DELETE_CHUNK)
            )
            with engine.begin() as conn:
                result = conn.execute(
                    table.delete().where(
                        table.c.site_id == site_id,
                        table.c.generation == generation,
                        key.in_(inner),
                    )
                )
            deleted += result.rowcount if table is products else 0
            if result.rowcount < DELETE_CHUNK:
                break
    return deleted


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads_list(text: str | None) -> list[str]:
    value = orjson.loads(text) if text else []
    return [str(v) for v in value] if isinstance(value, list) else []


def loads_dict(text: str | None) -> dict[str, list[str]]:
    value = orjson.loads(text) if text else {}
    return value if isinstance(value, dict) else {}


def search_text(key: str, title: str | None, brand: str | None) -> str:
    return " ".join(part for part in (key, title, brand) if part).lower()


def category_rows(site_id: str, paths: Iterable[str], known: set[int]) -> list[dict[str, Any]]:
    """Dictionary rows for the nodes of ``paths`` not in ``known`` (which this extends)."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        for node in category_nodes(path):
            if node.category_id in known:
                continue
            known.add(node.category_id)
            rows.append(
                {
                    "site_id": site_id,
                    "category_id": node.category_id,
                    "parent_id": node.parent_id,
                    "name": node.name,
                    "path": node.path,
                    "depth": node.depth,
                }
            )
    return rows


def insert_categories(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        stmt = insert_for(conn, catalog_categories).on_conflict_do_nothing(
            index_elements=["site_id", "category_id"]
        )
        conn.execute(stmt, rows)


def link_rows(
    site_id: str, generation: int, key: str, paths: Iterable[str]
) -> list[dict[str, Any]]:
    ids = {category_id(path) for path in paths}
    return [
        {"site_id": site_id, "generation": generation, "category_id": cid, "product_key": key}
        for cid in sorted(ids)
    ]


def replace_links(
    conn: Connection, site_id: str, generation: int, key: str, old: list[str], new: list[str]
) -> None:
    links = catalog_product_categories
    old_ids = {category_id(p) for p in old}
    if old_ids:
        conn.execute(
            links.delete().where(
                links.c.site_id == site_id,
                links.c.generation == generation,
                links.c.product_key == key,
                links.c.category_id.in_(sorted(old_ids)),
            )
        )
    rows = link_rows(site_id, generation, key, new)
    if rows:
        conn.execute(links.insert(), rows)


def insert_history(
    conn: Connection, rows: list[dict[str, Any]], *, replace_old: bool = False
) -> None:
    """History rows; a second change in the same millisecond from the same source wins.

    ``replace_old``: a row already there for the same millisecond and source takes the new
    row's old values too (an import's row, once it knows the live value it replaced).
    """
    if not rows:
        return
    merged: dict[tuple[str, str, int, str], dict[str, Any]] = {}
    for row in rows:
        pk = (row["site_id"], row["product_key"], row["at"], row["source"])
        if pk in merged:
            row = {**row, "old_price": merged[pk]["old_price"]}
            row["old_in_stock"] = merged[pk]["old_in_stock"]
        merged[pk] = row
    stmt = insert_for(conn, catalog_history)
    changed = ["price", "currency", "in_stock", "ref"]
    if replace_old:
        changed += ["old_price", "old_in_stock"]
    stmt = stmt.on_conflict_do_update(
        index_elements=["site_id", "product_key", "at", "source"],
        set_={name: stmt.excluded[name] for name in changed},
    )
    conn.execute(stmt, list(merged.values()))


def history_row(
    site_id: str,
    key: str,
    at: int,
    source: str,
    *,
    price: float | None,
    old_price: float | None,
    currency: str | None,
    in_stock: bool | None,
    old_in_stock: bool | None,
    ref: str | None,
) -> dict[str, Any]:
    return {
        "site_id": site_id,
        "product_key": key,
        "at": at,
        "source": source,
        "price": price,
        "old_price": old_price,
        "currency": currency,
        "in_stock": in_stock,
        "old_in_stock": old_in_stock,
        "ref": ref,
    }
