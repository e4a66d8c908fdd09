"""The event log a page at a time, newest first, for people reading it (the dashboard).

Every query walks an index backwards from a ``seq`` cursor and stops after one page:
``(site_id, seq)`` for the whole log, ``(site_id, type, seq)`` for one type (written so that
PostgreSQL does too: ``newest_first.py``) and ``(site_id, visitor_id, seq)`` for visitors (one
query per visitor, so each is an index range read in order, never a sort of all of a
visitor's events). A page costs the same on the millionth
event as on the first. ``identity_enc`` is never read here: the page shows the canonical
JSON only, which holds no personal data.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, Select, select

from shoptrack.store.newest_first import newest_first
from shoptrack.store.tables import events

# More visitors than this are read with ``IN`` lists, a chunk per query (a person with
# hundreds of devices is rare; one query each would then be too many round trips).
_VISITORS_ONE_BY_ONE = 20
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What a reader narrows the log to; ``visitor_ids=()`` matches nothing (a contact
    without visitors), ``None`` every visitor."""

    event_type: str | None = None
    visitor_ids: tuple[str, ...] | None = None
    before_seq: int | None = None


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    seq: int
    type: str
    occurred_at: int
    received_at: int
    visitor_id: str | None
    source: str
    data: str  # the canonical event's JSON, as stored


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[LoggedEvent]
    # The cursor of the next, older page (``before_seq``); None on the last page.
    older: int | None


_COLUMNS = (
    events.c.seq,
    events.c.type,
    events.c.occurred_at,
    events.c.received_at,
    events.c.visitor_id,
    events.c.source,
    events.c.data,
)


def page_statement(
    dialect: str,
    site_id: str,
    wanted: EventFilter,
    limit: int,
    visitor: str | Sequence[str] | None = None,
) -> Select[tuple[object, ...]]:
    """The query of one page: of ``visitor`` (a visitor id, or a list of them) when given, on
    the visitors' index; else of the whole site or one type (``store/newest_first.py``)."""
    if visitor is None:
        key = (events.c.type, wanted.event_type) if wanted.event_type else None
        where, order = newest_first(
            dialect, events.c.site_id, site_id, events.c.seq, wanted.before_seq, key
        )
        return select(*_COLUMNS).where(*where).order_by(*order).limit(limit)
    if isinstance(visitor, str):
        # One visitor: a range of the visitors' index, so PostgreSQL cannot prefer a walk of
        # the primary key when it guesses the visitor's rows of one type are rare.
        where, order = newest_first(
            dialect,
            events.c.site_id,
            site_id,
            events.c.seq,
            wanted.before_seq,
            (events.c.visitor_id, visitor),
        )
        stmt = select(*_COLUMNS).where(*where).order_by(*order)
    else:
        stmt = select(*_COLUMNS).where(events.c.site_id == site_id)
        stmt = stmt.where(events.c.visitor_id.in_(list(visitor)))
        if wanted.before_seq is not None:
            stmt = stmt.where(events.c.seq < wanted.before_seq)
        stmt = stmt.order_by(events.c.seq.desc())
    if wanted.event_type is not None:
        stmt = stmt.where(events.c.type == wanted.event_type)
    return stmt.limit(limit)


def _rows(conn: Connection, stmt: Select[tuple[object, ...]]) -> list[LoggedEvent]:
    return [
        LoggedEvent(
            int(r.seq), r.type, r.occurred_at, r.received_at, r.visitor_id, r.source, r.data
        )
        for r in conn.execute(stmt)
    ]


def _newest(parts: Iterable[list[LoggedEvent]], count: int) -> list[LoggedEvent]:
    """The ``count`` highest seqs of lists each already newest first."""
    merged = heapq.merge(*parts, key=lambda e: e.seq, reverse=True)
    out: list[LoggedEvent] = []
    for event in merged:
        out.append(event)
        if len(out) == count:
            break
    return out


def _by_visitors(
    conn: Connection, site_id: str, wanted: EventFilter, visitors: Sequence[str], limit: int
) -> list[LoggedEvent]:
    dialect = conn.dialect.name
    if len(visitors) <= _VISITORS_ONE_BY_ONE:
        groups: list[str | Sequence[str]] = list(visitors)
    else:
        groups = [visitors[i : i + _CHUNK] for i in range(0, len(visitors), _CHUNK)]
    parts = [_rows(conn, page_statement(dialect, site_id, wanted, limit, g)) for g in groups]
    return _newest(parts, limit)


def event_page(engine: Engine, site_id: str, wanted: EventFilter, limit: int = 50) -> EventPage:
    """One page of the site's events, newest first, and the cursor of the next one."""
    with engine.connect() as conn:
        if wanted.visitor_ids is None:
            rows = _rows(conn, page_statement(conn.dialect.name, site_id, wanted, limit + 1))
        else:
            rows = _by_visitors(conn, site_id, wanted, sorted(set(wanted.visitor_ids)), limit + 1)
    older = rows[limit - 1].seq if len(rows) > limit else None
    return EventPage(rows[:limit], older)
