"""Whether a hole in PostgreSQL's ``seq`` may still fill.

``seq`` comes from a sequence, drawn when a row is inserted, before its transaction commits.
When a follower sees seq ``n + 1`` committed but not ``n``, either the transaction that drew
``n`` is still open (and ``n`` may appear) or it never commits ``n`` (it rolled back, or ``n``
was drawn for a duplicate that ``ON CONFLICT DO NOTHING`` skipped). The transaction that drew
``n`` began before ``n + 1`` was seen committed; so once no transaction that began before that
moment is still open, the hole is settled. ``pg_stat_activity`` says when each open transaction
began, on the database server's clock, which is also where "the moment it was seen" is read.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, text

# Sessions this role may not inspect show no state: they count as open since any time.
_OPEN_SINCE = text(
    """
    SELECT EXISTS (
        SELECT 1 FROM pg_stat_activity
        WHERE datname = current_database()
          AND pid <> pg_backend_pid()
          AND backend_type = 'client backend'
          AND (xact_start < :seen OR state IS NULL)
    )
    """
)


def database_time(conn: Connection) -> datetime:
    """The database server's clock now (not the transaction's start time)."""
    value: datetime = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
    return value


def may_still_fill(conn: Connection, seen: datetime) -> bool:
    """True while a transaction that began before ``seen`` (database time) is still open.

    A hole first noticed at ``seen`` can only be filled by such a transaction. The answer is
    read once per transaction of ``conn`` (PostgreSQL keeps its view of the other sessions
    until the transaction ends), which is once per processor batch here.
    """
    return bool(conn.execute(_OPEN_SINCE, {"seen": seen}).scalar_one())


class HoleWatch:
    """The holes one follower of the log (a processor, the serving history) is waiting at."""

    def __init__(self) -> None:
        # Missing seq -> when it was first seen: monotonic, and on the database's clock.
        self._seen: dict[int, tuple[float, datetime]] = {}

    def readable(self, conn: Connection, after: int, seqs: Sequence[int], wait_s: float) -> int:
        """How many of ``seqs`` (ascending, all after ``after``) may be read now: all of them
        on SQLite; on PostgreSQL those before the first hole that may still fill, each hole
        waited for at most ``wait_s`` from when it was first seen."""
        if conn.dialect.name != "postgresql":
            return len(seqs)
        for stale in [n for n in self._seen if n <= after]:
            del self._seen[stale]  # behind the follower now: it was moved past them
        now = time.monotonic()
        seen_now: datetime | None = None  # read after the seqs were: later is the safe side
        may_fill: dict[datetime, bool] = {}
        expected = after + 1
        for count, seq in enumerate(seqs):
            if seq != expected:
                if expected not in self._seen:
                    seen_now = seen_now or database_time(conn)
                    self._seen[expected] = (now, seen_now)
                first_seen, seen_at = self._seen[expected]
                if now - first_seen < wait_s:
                    if seen_at not in may_fill:
                        may_fill[seen_at] = may_still_fill(conn, seen_at)
                    if may_fill[seen_at]:
                        return count
                del self._seen[expected]
            expected = seq + 1
        return len(seqs)
