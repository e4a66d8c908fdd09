"""What one batch of the ``analytics`` processor adds to the traffic tables, and its reset."""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Connection, delete, func, select, update

from shoptrack.analytics import visitor_days
from shoptrack.analytics.visitor_days import VisitorDay
from shoptrack.store.sql import add_counts, insert_for
from shoptrack.store.tables import traffic_daily, traffic_pages, traffic_types, traffic_visitors

DayTypeBot = tuple[str, str, bool]


@dataclass(slots=True)
class TypeSeen:
    first_seen: int
    last_seen: int
    events: int = 0


@dataclass(slots=True)
class PageSeen:
    bot: bool
    url: str
    type: str
    last_seen: int


@dataclass
class Batch:
    """One site's part of a batch."""

    events: dict[DayTypeBot, int] = field(default_factory=lambda: defaultdict(int))
    revenue: dict[DayTypeBot, float] = field(default_factory=lambda: defaultdict(float))
    visitors: dict[tuple[bool, str, str], VisitorDay] = field(default_factory=dict)
    types: dict[tuple[str, str], TypeSeen] = field(default_factory=dict)
    pages: list[PageSeen] = field(default_factory=list)

    def see_type(self, kind: str, source: str, received_at: int) -> None:
        seen = self.types.get((kind, source))
        if seen is None:
            seen = self.types[(kind, source)] = TypeSeen(received_at, received_at)
        seen.first_seen = min(seen.first_seen, received_at)
        seen.last_seen = max(seen.last_seen, received_at)
        seen.events += 1


def url_hash(url: str) -> str:
    return hashlib.sha1(url.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()


def write(conn: Connection, site_id: str, batch: Batch, pages_kept: int) -> None:
    _daily(conn, site_id, batch)
    visitor_days.write(conn, site_id, batch.visitors)
    _types(conn, site_id, batch)
    _pages(conn, site_id, batch, pages_kept)


def _daily(conn: Connection, site_id: str, batch: Batch) -> None:
    if not batch.events:
        return
    D = traffic_daily
    rows = [
        {
            "site_id": site_id,
            "day": day,
            "type": kind,
            "bot": bot,
            "events": count,
            "revenue": batch.revenue.get((day, kind, bot), 0.0),
        }
        for (day, kind, bot), count in sorted(batch.events.items())
    ]
    add_counts(conn, D, ["site_id", "day", "type", "bot"], ["events", "revenue"], rows)


def _types(conn: Connection, site_id: str, batch: Batch) -> None:
    if not batch.types:
        return
    T = traffic_types
    rows = [
        {
            "site_id": site_id,
            "type": kind,
            "source": source,
            "first_seen": seen.first_seen,
            "last_seen": seen.last_seen,
            "events": seen.events,
        }
        for (kind, source), seen in sorted(batch.types.items())
    ]
    stmt = insert_for(conn, T)
    lowest = func.min if conn.dialect.name == "sqlite" else func.least
    highest = func.max if conn.dialect.name == "sqlite" else func.greatest
    stmt = stmt.on_conflict_do_update(
        index_elements=["site_id", "type", "source"],
        set_={
            "first_seen": lowest(T.c.first_seen, stmt.excluded.first_seen),
            "last_seen": highest(T.c.last_seen, stmt.excluded.last_seen),
            "events": T.c.events + stmt.excluded.events,
        },
    )
    conn.execute(stmt, rows)


def _pages(conn: Connection, site_id: str, batch: Batch, kept: int) -> None:
    if not batch.pages:
        return
    P = traffic_pages
    rows = [
        {
            "site_id": site_id,
            "bot": page.bot,
            "url_hash": url_hash(page.url),
            "url": page.url,
            "type": page.type,
            "last_seen": page.last_seen,
        }
        for page in batch.pages
    ]
    stmt = insert_for(conn, P)
    stmt = stmt.on_conflict_do_update(
        index_elements=["site_id", "bot", "url_hash"],
        set_={"type": stmt.excluded.type, "last_seen": stmt.excluded.last_seen},
        where=P.c.last_seen <= stmt.excluded.last_seen,
    )
    conn.execute(stmt, rows)
    for bot in sorted({page.bot for page in batch.pages}):
        newest = (
            select(P.c.url_hash)
            .where(P.c.site_id == site_id, P.c.bot == bot)
            .order_by(P.c.last_seen.desc(), P.c.url_hash)
            .limit(kept)
        )
        conn.execute(
            delete(P).where(P.c.site_id == site_id, P.c.bot == bot, P.c.url_hash.not_in(newest))
        )


def reset(conn: Connection) -> None:
    """Forget every derived row (the caller moves the cursor back to 0 in the same transaction)."""
    for table in (traffic_daily, traffic_visitors, traffic_types, traffic_pages):
        conn.execute(table.delete())


def forget_visitors(
    conn: Connection, site_id: str, _contact_ids: list[str], visitor_ids: list[str]
) -> dict[str, int]:
    """An erasure's step: the person's visitor ids become fresh pseudonyms, as in the log.

    Erasure gives each of the person's visitors an ``erased-…`` id in ``events``; renaming
    their visitor days the same way (one new id per visitor) keeps every unique-visitor count
    and funnel exact, and a rebuild gives the same numbers.
    """
    V = traffic_visitors
    renamed = 0
    for visitor_id in visitor_ids:
        renamed += conn.execute(
            update(V)
            .where(V.c.site_id == site_id, V.c.visitor_id == visitor_id)
            .values(visitor_id="erased-" + secrets.token_hex(12))
        ).rowcount
    return {"traffic_visitor_days_renamed": renamed}
