"""Newest first within one site: the conditions and order that make both databases walk the
site's own index backwards from a ``seq`` cursor, and stop after a page.

SQLite's planner does so for ``site_id = ? [AND key = ?] AND seq < ? ORDER BY seq DESC``.
PostgreSQL's often does not: the primary key on ``seq`` gives the same order, and the planner
assumes a site's rows are spread evenly over ``seq``, so it walks the whole log backwards,
filtering by site. For a site whose newest events are older than other sites' (a quiet shop
beside a busy one) that read every newer row of the log: 300 ms at 1,000,000 events (bench/
admin_events.py). Equalities cannot say "use the site's index" (PostgreSQL drops an ORDER BY
column that is equal to a constant), so on PostgreSQL the same rows are described as a range
of the index's key, ``(site_id, key) >= (S, K) AND (site_id, key, seq) < (S, K, cursor)``,
ordered by the whole key: only that index gives the order without a sort.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, tuple_

# Above any seq: the cursor of the newest page (BIGINT's largest value).
TOP = 2**63 - 1


def newest_first(
    dialect: str,
    site: ColumnElement[str],
    site_id: str,
    seq: ColumnElement[int],
    before: int | None,
    key: tuple[ColumnElement[str], str] | None = None,
) -> tuple[list[ColumnElement[bool]], list[ColumnElement[Any]]]:
    """(WHERE conditions, ORDER BY) for one site's rows [with ``key`` = value] below
    ``before``, newest first, on the index ``(site, [key,] seq)``."""
    cursor = TOP if before is None else before
    if dialect != "postgresql":
        where = [site == site_id, seq < cursor]
        if key is not None:
            where.append(key[0] == key[1])
        return where, [seq.desc()]
    if key is None:
        where = [site >= site_id, tuple_(site, seq) < tuple_(site_id, cursor)]
        return where, [site.desc(), seq.desc()]
    column, value = key
    where = [
        tuple_(site, column) >= tuple_(site_id, value),
        tuple_(site, column, seq) < tuple_(site_id, value, cursor),
    ]
    return where, [site.desc(), column.desc(), seq.desc()]
