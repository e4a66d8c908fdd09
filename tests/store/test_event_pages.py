"""The event log a page at a time (``store/event_pages.py``) on SQLite and PostgreSQL: filters,
the seq cursor, and query plans that walk an index in order instead of sorting the log."""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, text
from sqlalchemy import event as sa_event

from shoptrack.store.event_pages import EventFilter, event_page, page_statement
from shoptrack.store.events_repo import EventLog
from shoptrack.store.rows import EventRow
from shoptrack.store.sites_repo import SiteRepository

T0 = 1_764_000_000_000


def _row(site_id: str, n: int, event_type: str, visitor: str) -> EventRow:
    data = {"id": f"e{n}", "site_id": site_id, "type": event_type, "visitor_id": visitor}
    return EventRow(
        site_id=site_id,
        event_id=f"e{n}",
        type=event_type,
        occurred_at=T0 + n,
        received_at=T0 + n,
        visitor_id=visitor,
        session_id=None,
        contact_id=None,
        source="browser",
        cart_guid=None,
        data=orjson.dumps(data).decode(),
        identity_enc=None,
    )


@pytest.fixture
def site_with_events(engine: Engine) -> str:
    """30 events: types alternate PageView/ProductPage, visitors v0, v1, v2 in turn."""
    site, _ = SiteRepository(engine).create("Pages shop")
    other, _ = SiteRepository(engine).create("Other shop")
    types = ("PageView", "ProductPage")
    rows = [_row(site.site_id, n, types[n % 2], f"v{n % 3}") for n in range(30)]
    rows.append(_row(other.site_id, 99, "PageView", "v0"))
    EventLog(engine).append(rows, [])
    return site.site_id


def _ids(engine: Engine, site_id: str, wanted: EventFilter, limit: int = 50) -> list[str]:
    return [orjson.loads(e.data)["id"] for e in event_page(engine, site_id, wanted, limit).events]


def test_newest_first_only_this_site(engine: Engine, site_with_events: str) -> None:
    ids = _ids(engine, site_with_events, EventFilter())
    assert ids == [f"e{n}" for n in range(29, -1, -1)]


def test_filters_narrow(engine: Engine, site_with_events: str) -> None:
    site = site_with_events
    assert _ids(engine, site, EventFilter(event_type="ProductPage"))[:3] == ["e29", "e27", "e25"]
    assert len(_ids(engine, site, EventFilter(event_type="ProductPage"))) == 15
    assert _ids(engine, site, EventFilter(visitor_ids=("v1",)))[:3] == ["e28", "e25", "e22"]
    both = _ids(engine, site, EventFilter(event_type="PageView", visitor_ids=("v1",)))
    assert both == ["e28", "e22", "e16", "e10", "e4"]
    assert _ids(engine, site, EventFilter(visitor_ids=("v0", "v2")))[:4] == [
        "e29", "e27", "e26", "e24",
    ]  # fmt: skip
    assert _ids(engine, site, EventFilter(visitor_ids=())) == []
    assert _ids(engine, site, EventFilter(event_type="NotFound")) == []


def test_cursor_pages_through_everything_once(engine: Engine, site_with_events: str) -> None:
    for wanted in (EventFilter(), EventFilter(visitor_ids=("v0", "v1", "v2"))):
        seen: list[str] = []
        before = None
        pages = 0
        while True:
            page = event_page(
                engine,
                site_with_events,
                EventFilter(wanted.event_type, wanted.visitor_ids, before),
                limit=7,
            )
            seen += [orjson.loads(e.data)["id"] for e in page.events]
            pages += 1
            if page.older is None:
                break
            before = page.older
        assert seen == [f"e{n}" for n in range(29, -1, -1)]
        assert pages == 5  # 7 + 7 + 7 + 7 + 2


def test_many_visitors_read_in_chunks(engine: Engine, site_with_events: str) -> None:
    visitors = (*(f"x{n}" for n in range(30)), "v2")
    assert _ids(engine, site_with_events, EventFilter(visitor_ids=visitors), 3) == [
        "e29", "e26", "e23",
    ]  # fmt: skip


# Filling a large log with SQL (no Python rows): 30,000 events of the site under test, then
# 30,000 of a busier one (so the site's newest event is far from the log's end: where a walk
# of the primary key would read every newer row), 8 types, 2,000 visitors; then ANALYZE, so
# both planners see a log shaped like a real one.
_FILL = """
INSERT INTO events (site_id, event_id, type, occurred_at, received_at, visitor_id, source, data)
SELECT :s, 'big' || n, 'Type' || (n % 8), n, n, 'bv' || (n % 2000), 'browser', '{}'
FROM {numbers}
"""
_NUMBERS = {
    "sqlite": "(WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 30000)"
    " SELECT n FROM c)",
    "postgresql": "generate_series(1, 30000) AS n",
}


# And 30,000 refusals of each site, so the rejections' plans are those of a real table.
_REFUSED = """
INSERT INTO rejected_events (site_id, event_id, received_at, source, endpoint, code, message,
                             body_size, body_enc)
SELECT :s, 'r' || n, n, 'browser', '/webevent', 'invalid', 'bad', 2, :body
FROM {numbers}
"""


def explain(engine: Engine, stmt: Any) -> str:
    """The plan of a statement as the page runs it (values inlined), as one line."""
    sql = str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        return " | ".join(str(r[-1]) for r in conn.execute(text(prefix + sql)))


def test_plans_walk_the_sites_index_without_sorting(engine: Engine) -> None:
    quiet, _ = SiteRepository(engine).create("Quiet shop")
    busy, _ = SiteRepository(engine).create("Busy shop")
    with engine.begin() as conn:
        fill = _FILL.replace("{numbers}", _NUMBERS[engine.dialect.name])
        conn.execute(text(fill), {"s": quiet.site_id})
        conn.execute(text(fill.replace("'big'", "'busy'")), {"s": busy.site_id})
        conn.execute(text("ANALYZE"))
    cases = [
        (EventFilter(), None, "ix_events_site_seq"),
        (EventFilter(before_seq=20_000), None, "ix_events_site_seq"),
        (EventFilter(event_type="Type3"), None, "ix_events_site_type_seq"),
        (EventFilter(event_type="Type3", before_seq=9_000), None, "ix_events_site_type_seq"),
        (EventFilter(), "bv7", "ix_events_site_visitor_seq"),
        (EventFilter(event_type="Type7", before_seq=9_000), "bv7", "ix_events_site_visitor_seq"),
    ]
    dialect = engine.dialect.name
    for wanted, visitor, index in cases:
        plan = explain(engine, page_statement(dialect, quiet.site_id, wanted, 51, visitor))
        # In seq order straight from the site's index: no sort, no walk of the whole log.
        assert index in plan, (wanted, visitor, plan)
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, (wanted, visitor, plan)
        assert "events_pkey" not in plan and "PRIMARY KEY" not in plan, (wanted, visitor, plan)
    # And the rows are the right ones on the real thing.
    newest = event_page(engine, quiet.site_id, EventFilter(event_type="Type3"), 3).events
    assert [e.occurred_at for e in newest] == [29_995, 29_987, 29_979]
    top = event_page(engine, quiet.site_id, EventFilter(), 1).events[0]
    assert top.occurred_at == 30_000  # its own newest, though the busy site's are newer
    deep = event_page(engine, quiet.site_id, EventFilter(before_seq=top.seq - 9_999), 2).events
    assert [e.occurred_at for e in deep] == [20_000, 19_999]


def explain_executed(engine: Engine, run: Any) -> list[str]:
    """The plans of the statements ``run()`` executes, with their own parameters."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    plans = []
    with engine.connect() as conn:
        for statement, parameters in seen:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            cursor.execute(prefix + statement, parameters)
            plans.append(" | ".join(str(r[-1]) for r in cursor.fetchall()))
            cursor.close()
    return plans


def test_the_apis_log_and_rejections_walk_the_sites_index(engine: Engine) -> None:
    """``EventLog.query`` (GET /api/v1/events) and ``EventLog.rejected`` avoid the same trap:
    a quiet site beside a busy one must not make PostgreSQL walk the whole log's key."""
    quiet, _ = SiteRepository(engine).create("Quiet shop")
    busy, _ = SiteRepository(engine).create("Busy shop")
    with engine.begin() as conn:
        fill = _FILL.replace("{numbers}", _NUMBERS[engine.dialect.name])
        conn.execute(text(fill), {"s": quiet.site_id})
        conn.execute(text(fill.replace("'big'", "'busy'")), {"s": busy.site_id})
        refused = _REFUSED.replace("{numbers}", _NUMBERS[engine.dialect.name])
        conn.execute(text(refused), {"s": quiet.site_id, "body": b"\x00"})
        conn.execute(text(refused), {"s": busy.site_id, "body": b"\x00"})
        conn.execute(text("ANALYZE"))
    log = EventLog(engine)
    site = quiet.site_id
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "ix_events_site_seq"),
        ({"before_seq": 9_000}, "ix_events_site_seq"),
        ({"event_type": "Type3"}, "ix_events_site_type_seq"),
        (
            {"visitor_id": "bv7", "event_type": "Type7", "before_seq": 9_000},
            "ix_events_site_visitor_seq",
        ),
    ]
    for wanted, index in cases:
        (plan,) = explain_executed(engine, partial(log.query, site, limit=50, **wanted))
        assert index in plan, (wanted, plan)
        assert "Sort" not in plan and "TEMP B-TREE" not in plan, (wanted, plan)
        assert "events_pkey" not in plan and "PRIMARY KEY" not in plan, (wanted, plan)
    (plan,) = explain_executed(engine, lambda: log.rejected(site, limit=50))
    assert "ix_rejected_site_seq" in plan and "Sort" not in plan, plan
    # The rows themselves: the quiet site's own, newest first, below a cursor.
    newest = log.query(site, limit=1)
    assert len(newest) == 1
    mine = log.query(site, visitor_id="bv7", event_type="Type7", before_seq=newest[0][0], limit=3)
    assert len(mine) == 3 and mine == sorted(mine, reverse=True)
    assert all(row["site_id"] == site for row in log.rejected(site, limit=5))
