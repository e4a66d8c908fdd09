"""The event log and the rejected-events store: append in one transaction, read by cursor."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shoptrack.store.rows import EventRow, RejectedRow
from shoptrack.store.tables import events, rejected_events


class EventLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        dialect_insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
        # An event id stored twice is stored once: retries are normal, not errors.
        self._insert_events = dialect_insert(events).on_conflict_do_nothing(
            index_elements=["site_id", "event_id"]
        )

    def append(self, rows: list[EventRow], rejected: list[RejectedRow]) -> None:
        """Commit accepted and rejected events together; returns only once durable."""
        with self.engine.begin() as conn:
            if rows:
                conn.execute(self._insert_events, [asdict(r) for r in rows])
            if rejected:
                conn.execute(rejected_events.insert(), [asdict(r) for r in rejected])

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
