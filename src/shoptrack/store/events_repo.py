"""The event log and the rejected-events store: append in one transaction, read by cursor.

Appending is the hot path of ingestion (the group-commit writer calls it for every group), so
it bypasses SQLAlchemy's statement machinery: a pooled DBAPI connection, and a whole group of
events in one multi-row ``INSERT`` with parameters taken from the row dataclasses in C
(``attrgetter``). One statement matters more than it looks: the database drivers release the
GIL for every step of a statement, and the writer thread must win the GIL back from the busy
event loop after each one. With ``executemany`` that was once per row (a 16-row group took
2.2 ms under load, 0.37 ms alone); a single statement, run in autocommit mode so that it is
its own transaction, gives the GIL away once per group.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import fields
from itertools import chain
from operator import attrgetter
from typing import Any

from sqlalchemy import ColumnElement, Engine, func, select
from sqlalchemy.pool import PoolProxiedConnection

from shoptrack.store.db import HeldConnection, WriteTurn
from shoptrack.store.newest_first import newest_first
from shoptrack.store.rows import EventRow, RejectedRow
from shoptrack.store.tables import events, rejected_events

_EVENT_COLUMNS = tuple(f.name for f in fields(EventRow))
_REJECTED_COLUMNS = tuple(f.name for f in fields(RejectedRow))
_event_values = attrgetter(*_EVENT_COLUMNS)
_rejected_values = attrgetter(*_REJECTED_COLUMNS)
# Most rows per INSERT: 500 × 12 columns stays under PostgreSQL's 65,535 parameters and the
# 32,766 of SQLite since 3.32 (older SQLite allows 999: see _largest_statement).
_ROWS_PER_STATEMENT = 500
# On PostgreSQL, INSERTs of up to this many rows are prepared statements (see _prepare).
_PREPARED_UP_TO = 64


def _padded(count: int, largest: int) -> int:
    """The statement size for ``count`` rows on SQLite: the next power of two (or ``largest``).

    A statement per group size would fill the driver's statement cache with up to 500 large
    statements (~75 MB seen); padding a group with copies of its last row, which ``ON
    CONFLICT DO NOTHING`` skips, leaves about ten. (Not on PostgreSQL: a skipped row there
    still takes a ``seq`` number, and the processors wait at such holes.)
    """
    size = 1
    while size < count:
        size *= 2
    return min(size, largest)


def _insert_sql(table: str, columns: tuple[str, ...], marker: str, rows: int = 1) -> str:
    one = "(" + ", ".join([marker] * len(columns)) + ")"
    values = ", ".join([one] * rows)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}"


@contextmanager
def _autocommit(dbapi_connection: Any, postgres: bool) -> Iterator[None]:
    """The DBAPI connection in autocommit mode, put back as it was (it returns to the pool).

    After a failure the connection is discarded anyway: an error while putting it back must
    not hide the failure itself.
    """
    attribute, on, off = ("autocommit", True, False) if postgres else ("isolation_level", None, "")
    setattr(dbapi_connection, attribute, on)
    try:
        yield
    except BaseException:
        with suppress(Exception):
            setattr(dbapi_connection, attribute, off)
        raise
    setattr(dbapi_connection, attribute, off)


class EventLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        # sqlite3 takes qmark parameters, psycopg takes format ones.
        self._marker = "%s" if self._postgres else "?"
        self._insert_rejected = _insert_sql(rejected_events.name, _REJECTED_COLUMNS, self._marker)
        self._insert_events_sql: dict[int, str] = {}
        self._largest: int | None = None  # rows per statement, once a connection has told
        self.write_turn = WriteTurn(engine)

    def _insert_events(self, count: int) -> str:
        """The INSERT of ``count`` events; an event id stored twice is stored once."""
        sql = self._insert_events_sql.get(count)
        if sql is None:
            sql = _insert_sql(events.name, _EVENT_COLUMNS, self._marker, count)
            sql += " ON CONFLICT (site_id, event_id) DO NOTHING"
            self._insert_events_sql[count] = sql
        return sql

    def append(
        self, rows: list[EventRow], rejected: list[RejectedRow], held: HeldConnection | None = None
    ) -> None:
        """Commit accepted and rejected events together; returns only once durable.

        ``held``: the connection of a writer that appends often (the group commit); without
        it, one is taken from the pool for this append.
        """
        if not rows and not rejected:
            return
        with self.write_turn():
            if held is not None:
                with held.use() as connection:
                    self._append(rows, rejected, connection)
                return
            connection = self.engine.raw_connection()
            try:
                self._append(rows, rejected, connection)
            except BaseException:
                connection.invalidate()  # in an unknown state: it must not go back to the pool
                raise
            finally:
                connection.close()

    def _prepare(self, size: int) -> dict[str, bool]:
        """psycopg's ``prepare`` for an INSERT of ``size`` rows (SQLite's driver caches its own).

        A prepared statement saves PostgreSQL parsing and planning the multi-row INSERT at each
        commit: measured on one connection, 20-row groups went from ~15,000 to ~20,000 rows/s,
        and 3-row groups spent half the client CPU per row. Each size is one statement kept per
        connection, in the server's memory: only the small sizes most commits have are prepared.
        """
        if not self._postgres:
            return {}
        return {"prepare": size <= _PREPARED_UP_TO}

    def _largest_statement(self) -> int:
        """Rows per INSERT: fewer where the SQLite library allows fewer parameters."""
        largest = _ROWS_PER_STATEMENT
        if not self._postgres:
            connection = self.engine.raw_connection()
            try:
                driver: Any = connection.driver_connection
                limit = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
            finally:
                connection.close()
            largest = min(largest, limit // len(_EVENT_COLUMNS))
        self._largest = largest
        return largest

    def _append(
        self, rows: list[EventRow], rejected: list[RejectedRow], connection: PoolProxiedConnection
    ) -> None:
        largest = self._largest or self._largest_statement()
        chunks = [rows[start : start + largest] for start in range(0, len(rows), largest)]
        # One statement is a transaction of its own; more need BEGIN … COMMIT around them
        # (executemany of the rejected rows is one statement per row).
        single = (len(chunks) == 1 and not rejected) or (not chunks and len(rejected) == 1)
        dbapi: Any = connection.driver_connection
        with _autocommit(dbapi, self._postgres):
            cursor = dbapi.cursor()
            try:
                if not single:
                    cursor.execute("BEGIN")
                for chunk in chunks:
                    size = len(chunk) if self._postgres else _padded(len(chunk), largest)
                    padding = [chunk[-1]] * (size - len(chunk))
                    values = list(chain.from_iterable(map(_event_values, chunk + padding)))
                    cursor.execute(self._insert_events(size), values, **self._prepare(size))
                if rejected:
                    cursor.executemany(
                        self._insert_rejected, [_rejected_values(r) for r in rejected]
                    )
                if not single:
                    cursor.execute("COMMIT")
            except BaseException:
                if not single:
                    dbapi.rollback()
                raise
            finally:
                cursor.close()

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
        """(seq, canonical JSON) newest first, on the site's narrowest index (a visitor's,
        else a type's, else the site's): ``store/newest_first.py`` says why the conditions
        take that shape."""
        key: tuple[ColumnElement[str], str] | None = None
        if visitor_id is not None:
            key = (events.c.visitor_id, visitor_id)
        elif event_type is not None:
            key = (events.c.type, event_type)
        where, order = newest_first(
            self.engine.dialect.name, events.c.site_id, site_id, events.c.seq, before_seq, key
        )
        stmt = select(events.c.seq, events.c.data).where(*where)
        if visitor_id is not None and event_type is not None:
            stmt = stmt.where(events.c.type == event_type)
        if since_ms is not None:
            stmt = stmt.where(events.c.occurred_at >= since_ms)
        stmt = stmt.order_by(*order).limit(limit)
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
        where, order = newest_first(
            self.engine.dialect.name,
            rejected_events.c.site_id,
            site_id,
            rejected_events.c.seq,
            before_seq,
        )
        stmt = select(rejected_events).where(*where).order_by(*order).limit(limit)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]
