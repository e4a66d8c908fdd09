"""``/healthz``: 200 only when ingestion can work, else 503 naming what failed.

``SELECT 1`` used to be the whole check: it answered ok while a corrupted page of ``sites``
made every ``/webevent`` fail. What ingestion needs is checked instead: the sites can be read
(the whole table, a few pages), the event log's tail can be read, the group-commit writer
runs, and a PostgreSQL server accepts writes (not a read-only replica). The answer is cached
for a moment, so a load balancer polling many times a second costs the store a few queries
per second at most.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from shoptrack.collector.writer import GroupCommitWriter
from shoptrack.errors import Unavailable
from shoptrack.store.db import store_problem
from shoptrack.store.tables import events, sites

CACHE_S = 2.0


@dataclass(frozen=True, slots=True)
class HealthFailure:
    what: str  # names the failed part: "sites", "events", "writer", "store"
    problem: str

    def error(self) -> Unavailable:
        error = Unavailable(f"{self.what}: {self.problem}")
        error.field = self.what
        return error


class HealthCheck:
    def __init__(self, engine: Engine, writer: GroupCommitWriter) -> None:
        self._engine = engine
        self._writer = writer
        self._checked_at = -CACHE_S
        self._last: HealthFailure | None = None

    def cached(self) -> HealthFailure | bool | None:
        """The last result while it is fresh; False when a check is due."""
        if time.monotonic() - self._checked_at < CACHE_S:
            return self._last
        return False

    def check(self) -> HealthFailure | None:
        """Run the checks (blocking: call it off the event loop); None when all is well."""
        self._last = self._run()
        self._checked_at = time.monotonic()
        return self._last

    def _run(self) -> HealthFailure | None:
        if not self._writer.running:
            return HealthFailure("writer", "the group-commit writer is not running")
        step = "store"
        try:
            with self._engine.connect() as conn:
                step = "sites"
                # A column of every row: count(*) alone is answered from the key's index.
                conn.execute(select(func.sum(func.length(sites.c.name)))).scalar_one()
                step = "events"
                conn.execute(select(func.max(events.c.seq))).scalar_one()
                if conn.dialect.name == "postgresql":
                    step = "store"
                    if conn.execute(text("SHOW transaction_read_only")).scalar_one() == "on":
                        return HealthFailure("store", "the PostgreSQL server is read-only")
        except SQLAlchemyError as exc:
            return HealthFailure(step, f"cannot be read: {store_problem(exc)}")
        return None
