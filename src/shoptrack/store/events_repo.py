"""The event log and the rejected-events store: append in one transaction, read by cursor.

Appending is the hot path of ingestion (the group-commit writer calls it for every group), so
it bypasses SQLAlchemy's statement machinery: a pooled DBAPI connection, one prepared
``executemany`` per table, and parameters taken from the row dataclasses in C
(``attrgetter``). That keeps the writer thread's Python work, which competes with the event
loop for the GIL, small next to the commit itself. Everything else goes through SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import fields
from operator import attrgetter
from typing import Any

from sqlalchemy import Engine, func, select

from shoptrack.store.rows import EventRow, RejectedRow
from shoptrack.store.tables import events, rejected_events

_EVENT_COLUMNS = tuple(f.name for f in fields(EventRow))
_REJECTED_COLUMNS = tuple(f.name for f in fields(RejectedRow))
_event_values = attrgetter(*_EVENT_COLUMNS)
_rejected_values = attrgetter(*_REJECTED_COLUMNS)


def _insert_sql(table: str, columns: tuple[str, ...], marker: str, tail: str = "") -> str:
    markers = ", ".join([marker] * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({markers}){tail}"


class EventLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # sqlite3 takes qmark parameters, psycopg takes format ones.
        marker = "%s" if engine.dialect.name == "postgresql" else "?"
        # An event id stored twice is stored once: retries are normal, not errors.
        self._insert_events = _insert_sql(
            events.name, _EVENT_COLUMNS, marker, " ON CONFLICT (site_id, event_id) DO NOTHING"
        )
        self._insert_rejected = _insert_sql(rejected_events.name, _REJECTED_COLUMNS, marker)

    def append(self, rows: list[EventRow], rejected: list[RejectedRow]) -> None:
        """Commit accepted and rejected events together; returns only once durable."""
        if not rows and not rejected:
            return
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                if rows:
                    cursor.executemany(self._insert_events, [_event_values(r) for r in rows])
                if rejected:
                    cursor.executemany(
                        self._insert_rejected, [_rejected_values(r) for r in rejected]
                    )
            finally:
                cursor.close()
            connection.commit()
        except BaseException:
            try:
                connection.rollback()
            except Exception:
                connection.invalidate()  # a broken connection must not go back to the pool
            raise
        finally:
            connection.close()

    def query(
        self,
        site_id: str,
        *,
        event_type: str | None = None,
        visitor_id: str | None = None,
        since_ms: int | None = None,
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[tuple[int, str]]:
        """(seq, canonical JSON) newest first."""
        stmt = select(events.c.seq, events.c.data).where(events.c.site_id == site_id)
        if event_type is not None:
            stmt = stmt.where(events.c.type == event_type)
        if visitor_id is not None:
            stmt = stmt.where(events.c.visitor_id == visitor_id)
        if since_ms is not None:
            stmt = stmt.where(events.c.occurred_at >= since_ms)
        if before_seq is not None:
            stmt = stmt.where(events.c.seq < before_seq)
        stmt = stmt.order_by(events.c.seq.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [(row.seq, row.data) for row in conn.execute(stmt)]

    def after(
        self, after_seq: int, site_id: str | None = None, limit: int = 500
    ) -> list[tuple[int, str]]:
        """(seq, canonical JSON) oldest first, for followers of the log (tail, processors)."""
        stmt = select(events.c.seq, events.c.data).where(events.c.seq > after_seq)
        if site_id is not None:
            stmt = stmt.where(events.c.site_id == site_id)
        stmt = stmt.order_by(events.c.seq).limit(limit)
        with self.engine.connect() as conn:
            return [(row.seq, row.data) for row in conn.execute(stmt)]

    def last_seq(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one())

    def cart_by_guid(self, site_id: str, guid: str) -> str | None:
        """The canonical JSON of the latest StatusCart with this GUID, if any."""
        stmt = (
            select(events.c.data)
            .where(
                events.c.site_id == site_id,
                events.c.cart_guid == guid,
                events.c.type == "StatusCart",
            )
            .order_by(events.c.seq.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            value = conn.execute(stmt).scalar_one_or_none()
        return str(value) if value is not None else None

    def count(self, site_id: str | None = None) -> int:
        stmt = select(func.count()).select_from(events)
        if site_id is not None:
            stmt = stmt.where(events.c.site_id == site_id)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def rejected(
        self, site_id: str, limit: int = 100, before_seq: int | None = None
    ) -> list[dict[str, Any]]:
        stmt = select(rejected_events).where(rejected_events.c.site_id == site_id)
        if before_seq is not None:
            stmt = stmt.where(rejected_events.c.seq < before_seq)
        stmt = stmt.order_by(rejected_events.c.seq.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]
