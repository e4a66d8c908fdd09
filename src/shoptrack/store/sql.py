"""SQL primitives every store module needs, written once for SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

T = TypeVar("T")
# Keep IN lists well under every driver's parameter limit.
CHUNK = 500


def now_ms() -> int:
    return int(time.time() * 1000)


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def insert_for(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT (with ``on_conflict_do_nothing`` / ``_do_update``)."""
    maker = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return maker(table)


def pg_site_lock(conn: Connection, namespace: str, site_id: str) -> None:
    """PostgreSQL: hold the advisory lock of (``namespace``, site) until the transaction ends.

    Each namespace (contacts, catalogue …) is its own lock, so writers of one kind of a site's
    data queue behind each other and never behind another kind or another site.
    """
    digest = hashlib.sha256(namespace.encode() + b"\x00" + site_id.encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def add_counts(
    conn: Connection,
    table: Table,
    keys: Sequence[str],
    counters: Sequence[str],
    rows: Sequence[dict[str, Any]],
) -> None:
    """Insert ``rows``; where a row with the same ``keys`` exists, add the ``counters`` to its
    own (daily report tables are written this way, a batch of events at a time)."""
    if not rows:
        return
    stmt = insert_for(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: table.c[name] + stmt.excluded[name] for name in counters},
    )
    for part in chunks(rows):
        conn.execute(stmt, list(part))
