"""A processor that fails on marked events, through the runner's ordinary processor interface.

It records every event it handles in ``marker_seen`` (primary key ``seq``) inside the runner's
transaction, so an event handled twice fails loudly and a rolled-back attempt leaves no row.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    create_engine,
    select,
    text,
)

from shoptrack.store.tables import events, processor_failures

POISON = "poison-"
SECRET = "s3cret-value-from-the-event"

marker_metadata = MetaData()
marker_seen = Table(
    "marker_seen",
    marker_metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("site_id", String(64), nullable=False),
)


class MarkerProcessor:
    """Fails on events whose id starts with ``poison-`` while ``broken``.

    ``how`` picks the failure: ``"value"`` raises a ValueError; ``"sql"`` runs a statement the
    database refuses, with a value from the event among its parameters.
    """

    def __init__(self, name: str = "marker", how: str = "value") -> None:
        self.name = name
        self.how = how
        self.broken = True
        self.calls = 0

    def handle(self, conn: Connection, after: int, upto: int) -> None:
        self.calls += 1
        rows = conn.execute(
            select(events.c.seq, events.c.site_id, events.c.event_id)
            .where(events.c.seq > after, events.c.seq <= upto)
            .order_by(events.c.seq)
        ).all()
        for row in rows:
            conn.execute(marker_seen.insert().values(seq=row.seq, site_id=row.site_id))
            if self.broken and row.event_id.startswith(POISON):
                if self.how == "sql":
                    # The same key again: an IntegrityError whose parameters hold SECRET.
                    conn.execute(marker_seen.insert().values(seq=row.seq, site_id=SECRET))
                raise ValueError("cannot handle this event")


class UnreachableStoreProcessor:
    """Needs a second database that is down until ``reachable`` is set: a transient failure."""

    name = "unreachable"

    def __init__(self) -> None:
        self.reachable = False
        self.calls = 0
        self.handled: list[tuple[int, int]] = []

    def handle(self, conn: Connection, after: int, upto: int) -> None:
        self.calls += 1
        if not self.reachable:
            reach_the_unreachable_store()
        self.handled.append((after, upto))


def reach_the_unreachable_store() -> None:
    """Nothing listens on port 1: psycopg's "connection refused" OperationalError."""
    other = create_engine(
        "postgresql+psycopg://shoptrack@127.0.0.1:1/none", connect_args={"connect_timeout": 1}
    )
    try:
        with other.connect():
            pass
    finally:
        other.dispose()


class StuckOnSiteProcessor:
    """Cannot get past one site's events: a batch holding one needs a store that is down.

    A store error blames no event, so its cursor stays in front of that site's first event
    for good: every later event, of any site, waits behind it for this processor.
    """

    def __init__(self, site_id: str, name: str = "stuck") -> None:
        self.site_id = site_id
        self.name = name

    def handle(self, conn: Connection, after: int, upto: int) -> None:
        sites = conn.execute(
            select(events.c.site_id).where(events.c.seq > after, events.c.seq <= upto)
        ).scalars()
        if self.site_id in set(sites):
            reach_the_unreachable_store()


@contextmanager
def marker_table(engine: Engine) -> Iterator[None]:
    marker_metadata.create_all(engine)
    try:
        yield
    finally:
        marker_metadata.drop_all(engine)


def log_events(engine: Engine, site_id: str, event_ids: list[str]) -> list[int]:
    """Events appended to the log in this order; their seqs."""
    now = int(time.time() * 1000)
    seqs: list[int] = []
    with engine.begin() as conn:
        for event_id in event_ids:
            data = {"id": event_id, "site_id": site_id, "type": "PageView", "note": SECRET}
            inserted = conn.execute(
                events.insert()
                .values(
                    site_id=site_id,
                    event_id=event_id,
                    type="PageView",
                    occurred_at=now,
                    received_at=now,
                    visitor_id="v-1",
                    source="rest",
                    data=orjson.dumps(data).decode(),
                )
                .returning(events.c.seq)
            )
            seqs.append(int(inserted.scalar_one()))
    return seqs


def event_ids(count: int, poison_at: int | None = None) -> list[str]:
    return [(POISON if i == poison_at else "ok-") + uuid.uuid4().hex[:12] for i in range(count)]


def seen_seqs(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(int(s) for s in conn.execute(select(marker_seen.c.seq)).scalars())


def failure_rows(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(select(processor_failures).order_by(processor_failures.c.seq))
        return [dict(row._mapping) for row in rows]


def count_rows(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
