"""The shared storage suite: ``EventLog`` and ``SiteRepository`` on SQLite and PostgreSQL.

Every test runs on both databases, so the two stores behave the same for everything the
collector and the API rely on. One migrated database per module and backend (migrating one
per test would cost more than the tests); each test works on sites of its own.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, event, func, select, update

from shoptrack.errors import ShoptrackError
from shoptrack.store.db import HeldConnection
from shoptrack.store.events_repo import EventLog
from shoptrack.store.rows import EventRow, RejectedRow
from shoptrack.store.sites_repo import API_KEY_PREFIX, SiteRepository, hash_api_key
from shoptrack.store.tables import api_keys, rejected_events, sites
from tests.support.databases import empty_all_tables, migrated_engine

T0 = 1_764_000_000_000


def row(
    event_id: str,
    *,
    site_id: str,
    type: str = "MainPage",
    occurred_at: int = T0,
    visitor_id: str | None = "v1",
    cart_guid: str | None = None,
    products: list[dict[str, Any]] | None = None,
) -> EventRow:
    data = {"id": event_id, "site_id": site_id, "type": type, "products": products or []}
    return EventRow(
        site_id=site_id,
        event_id=event_id,
        type=type,
        occurred_at=occurred_at,
        received_at=occurred_at + 10,
        visitor_id=visitor_id,
        session_id="sess-1",
        contact_id=None,
        source="browser",
        cart_guid=cart_guid,
        data=orjson.dumps(data).decode(),
        identity_enc=None,
    )


def rejection(site_id: str | None, code: str = "missing_field") -> RejectedRow:
    return RejectedRow(
        site_id=site_id,
        event_id="bad-1",
        received_at=T0,
        source="browser",
        endpoint="webevent",
        code=code,
        message="ProductPage.productKey is required",
        field="ProductPage.productKey",
        body_size=12,
        body_enc=b"\x01\x02k1 sealed",
    )


def ids(result: list[tuple[int, str]]) -> list[str]:
    return [orjson.loads(data)["id"] for _, data in result]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def store_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    tmp: Path = tmp_path_factory.mktemp("store")
    url = f"sqlite:///{tmp / 'shoptrack.db'}"
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
    engine = migrated_engine(url)
    empty_all_tables(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(store_engine: Engine) -> Engine:
    return store_engine


@pytest.fixture
def log(engine: Engine) -> EventLog:
    return EventLog(engine)


@pytest.fixture
def repo(engine: Engine) -> SiteRepository:
    return SiteRepository(engine)


@pytest.fixture
def s1() -> str:
    """A site id no other test uses."""
    return "s1-" + secrets.token_hex(4)


@pytest.fixture
def s2() -> str:
    return "s2-" + secrets.token_hex(4)


def siteless_rejections(engine: Engine) -> int:
    stmt = select(func.count()).select_from(rejected_events)
    with engine.connect() as conn:
        return int(conn.execute(stmt.where(rejected_events.c.site_id.is_(None))).scalar_one())


# --- append ---------------------------------------------------------------------------------


def test_appended_events_are_stored_with_their_data(log: EventLog, s1: str) -> None:
    log.append([row("e1", site_id=s1), row("e2", site_id=s1)], [])
    assert log.count(s1) == 2
    assert ids(log.query(s1)) == ["e2", "e1"]


def test_an_event_id_stored_twice_is_stored_once_and_keeps_the_first(
    log: EventLog, s1: str
) -> None:
    log.append([row("e1", site_id=s1, type="MainPage")], [])
    log.append([row("e1", site_id=s1, type="NotFound")], [])  # a retry: no error, no overwrite
    assert log.count(s1) == 1
    [(_, data)] = log.query(s1)
    assert orjson.loads(data)["type"] == "MainPage"


def test_a_duplicate_inside_one_append_is_stored_once(log: EventLog, s1: str) -> None:
    log.append([row("e1", site_id=s1), row("e1", site_id=s1), row("e2", site_id=s1)], [])
    assert log.count(s1) == 2


def test_the_same_event_id_on_two_sites_is_two_events(log: EventLog, s1: str, s2: str) -> None:
    log.append([row("e1", site_id=s1), row("e1", site_id=s2)], [])
    assert log.count(s1) == log.count(s2) == 1


def test_events_and_rejections_commit_together_or_not_at_all(log: EventLog, s1: str) -> None:
    broken = rejection(s1)
    broken.code = None  # type: ignore[assignment]  # NOT NULL: the transaction must fail
    # The driver's or SQLAlchemy's integrity error, whichever layer the store writes through.
    with pytest.raises(Exception, match=r"(?i)null"):
        log.append([row("e1", site_id=s1)], [rejection(s1), broken])
    assert log.count(s1) == 0
    assert log.rejected(s1) == []


def test_a_group_larger_than_one_statement_is_stored_whole(log: EventLog, s1: str) -> None:
    # 1,201 rows take three INSERT statements in one transaction.
    log.append([row(f"big-{i}", site_id=s1) for i in range(1_201)], [])
    assert log.count(s1) == 1_201
    assert ids(log.query(s1, limit=1)) == ["big-1200"]


def test_rejections_alone_commit_together_or_not_at_all(log: EventLog, s1: str) -> None:
    bad = rejection(s1)
    bad.code = None  # type: ignore[assignment]  # NOT NULL
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error class
        log.append([], [rejection(s1), rejection(s1), bad])
    assert log.rejected(s1) == []
    log.append([], [rejection(s1), rejection(s1)])
    assert len(log.rejected(s1)) == 2


def test_a_failed_statement_leaves_the_pool_usable(log: EventLog, s1: str) -> None:
    too_long = row("x" * 200, site_id=s1)  # event_id is VARCHAR(128): PostgreSQL refuses it
    too_long.type = None  # type: ignore[assignment]  # NOT NULL on both databases
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error class
        log.append([row("before-bad", site_id=s1), too_long], [])
    assert log.count(s1) == 0  # the whole statement failed
    log.append([row("after-bad", site_id=s1)], [rejection(s1)])
    assert ids(log.query(s1)) == ["after-bad"]


def test_a_held_connection_serves_append_after_append(
    log: EventLog, engine: Engine, s1: str
) -> None:
    held = HeldConnection(engine)
    log.append([row("held-0", site_id=s1)], [], held)
    checkouts: list[object] = []
    on_checkout = lambda *args: checkouts.append(args[0])  # noqa: E731
    event.listen(engine, "checkout", on_checkout)
    try:
        for i in range(1, 5):
            log.append([row(f"held-{i}", site_id=s1)], [], held)
    finally:
        event.remove(engine, "checkout", on_checkout)
        held.close()
    assert log.count(s1) == 5
    assert checkouts == []  # no pool checkout (nor, on PostgreSQL, its pre-ping) per commit


def test_a_held_connection_is_replaced_after_a_failure(
    log: EventLog, engine: Engine, s1: str
) -> None:
    held = HeldConnection(engine)
    log.append([row("ok-1", site_id=s1)], [], held)
    with held.use() as first:
        pass
    too_long = row("x" * 200, site_id=s1)
    too_long.type = None  # type: ignore[assignment]  # NOT NULL on both databases
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error class
        log.append([too_long], [], held)
    log.append([row("ok-2", site_id=s1)], [rejection(s1)], held)
    with held.use() as second:
        assert second is not first  # the failed one was invalidated, not reused
    held.close()
    assert ids(log.query(s1)) == ["ok-2", "ok-1"]


def test_a_held_connection_idle_too_long_goes_back_to_the_pool(
    log: EventLog, engine: Engine, s1: str
) -> None:
    log.append([row("warm", site_id=s1)], [])  # the first append asks the store its limits
    returned: list[object] = []
    on_checkin = lambda *args: returned.append(args[0])  # noqa: E731
    event.listen(engine, "checkin", on_checkin)
    kept, idle = HeldConnection(engine), HeldConnection(engine, idle_s=0.0)
    try:
        for i in range(2):
            log.append([row(f"kept-{i}", site_id=s1)], [], kept)
        assert returned == []  # kept between its uses
        for i in range(2):
            log.append([row(f"idle-{i}", site_id=s1)], [], idle)
        # It sat idle longer than idle_s: back to the pool before the second use.
        assert len(returned) == 1
    finally:
        event.remove(engine, "checkin", on_checkin)
        kept.close()
        idle.close()
    assert log.count(s1) == 5


@pytest.mark.parametrize("store_engine", ["postgres"], indirect=True)
def test_postgres_prepares_the_inserts_of_small_groups_only(
    log: EventLog, engine: Engine, s1: str
) -> None:
    held = HeldConnection(engine)
    try:
        for size in (3, 3, 100):
            log.append(
                [row(f"p{size}-{secrets.token_hex(3)}-{i}", site_id=s1) for i in range(size)],
                [],
                held,
            )
        with held.use() as connection:
            cursor = connection.driver_connection.cursor()
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            prepared = [statement for (statement,) in cursor.fetchall()]
    finally:
        held.close()
    rows_of = [s.count("),") + 1 for s in prepared if s.startswith("INSERT INTO events")]
    # One statement for the 3-row groups, reused; the 100-row INSERT is not kept. (The pooled
    # connection may hold other small sizes prepared by earlier appends.)
    assert rows_of.count(3) == 1
    assert 100 not in rows_of
    assert log.count(s1) == 106


def test_sqlite_groups_of_any_size_share_a_few_statements(tmp_path: Path) -> None:
    # One statement per group size would fill the driver's statement cache; padding with
    # copies of the last row (skipped as duplicates) keeps them to powers of two.
    engine = migrated_engine(f"sqlite:///{tmp_path / 'sizes.db'}")
    statements: set[str] = set()  # the row counts of the INSERTs run

    def trace(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(
            lambda sql: (
                statements.add(str(sql.count("'sizes'")))  # the values are in: count rows
                if sql.startswith("INSERT INTO events")
                else None
            )
        )

    engine.dispose()
    event.listen(engine, "connect", trace)
    try:
        log = EventLog(engine)
        stored = 0
        for size in range(1, 41):
            log.append([row(f"g{size}-{i}", site_id="sizes") for i in range(size)], [])
            stored += size
        assert log.count("sizes") == stored  # the padding stored nothing twice
        assert statements == {"1", "2", "4", "8", "16", "32", "64"}
    finally:
        engine.dispose()


def test_an_old_sqlite_parameter_limit_is_respected(tmp_path: Path) -> None:
    # SQLite before 3.32 allows 999 parameters per statement (83 rows of 12 columns).
    engine = migrated_engine(f"sqlite:///{tmp_path / 'old.db'}")

    def old_limit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)

    engine.dispose()
    event.listen(engine, "connect", old_limit)
    try:
        log = EventLog(engine)
        log.append([row(f"old-{i}", site_id="old") for i in range(300)], [])
        assert log.count("old") == 300
    finally:
        engine.dispose()


def test_a_group_is_one_statement_on_sqlite(tmp_path: Path) -> None:
    # Why it matters: the driver gives up the GIL for each statement step, and the writer
    # thread must win it back from the busy event loop every time (see events_repo).
    # (SQLite only: its driver can trace statements; this test is not in the shared suite.)
    engine = migrated_engine(f"sqlite:///{tmp_path / 'traced.db'}")
    statements: list[str] = []

    def trace(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(statements.append)

    engine.dispose()  # new connections from here on, so that each one is traced
    event.listen(engine, "connect", trace)
    try:
        log = EventLog(engine)
        log.append([row(f"one-{i}", site_id="traced") for i in range(20)], [])
        written = [s for s in statements if not s.upper().startswith(("PRAGMA", "SELECT"))]
        assert len(written) == 1
        assert written[0].startswith("INSERT INTO events")
        assert log.count("traced") == 20
    finally:
        engine.dispose()


def test_appending_nothing_is_harmless(log: EventLog) -> None:
    before = (log.count(), log.last_seq())
    log.append([], [])
    assert (log.count(), log.last_seq()) == before


# --- query ----------------------------------------------------------------------------------


def test_query_is_newest_first_by_arrival_and_limited(log: EventLog, s1: str) -> None:
    # Arrival order, not occurred_at: a late event is still the newest arrival.
    log.append([row("e1", site_id=s1, occurred_at=T0 + 2), row("e2", site_id=s1)], [])
    log.append([row("e3", site_id=s1, occurred_at=T0 + 1)], [])
    assert ids(log.query(s1)) == ["e3", "e2", "e1"]
    assert ids(log.query(s1, limit=2)) == ["e3", "e2"]


def test_query_filters(log: EventLog, s1: str, s2: str) -> None:
    log.append(
        [
            row("a", site_id=s1, type="ProductPage", visitor_id="v1", occurred_at=T0),
            row("b", site_id=s1, type="MainPage", visitor_id="v2", occurred_at=T0 + 100),
            row("c", site_id=s1, type="ProductPage", visitor_id="v2", occurred_at=T0 + 200),
            row("x", site_id=s2, type="ProductPage", visitor_id="v2", occurred_at=T0 + 300),
        ],
        [],
    )
    assert ids(log.query(s1, event_type="ProductPage")) == ["c", "a"]
    assert ids(log.query(s1, visitor_id="v2")) == ["c", "b"]
    assert ids(log.query(s1, since_ms=T0 + 100)) == ["c", "b"]
    assert ids(log.query(s1, event_type="ProductPage", visitor_id="v2")) == ["c"]
    assert ids(log.query(s2)) == ["x"]
    assert log.query("nobody") == []


def test_query_pages_with_the_before_cursor(log: EventLog, s1: str) -> None:
    log.append([row(f"e{i}", site_id=s1) for i in range(1, 6)], [])
    first = log.query(s1, limit=2)
    assert ids(first) == ["e5", "e4"]
    second = log.query(s1, limit=2, before_seq=first[-1][0])
    assert ids(second) == ["e3", "e2"]
    assert ids(log.query(s1, limit=2, before_seq=second[-1][0])) == ["e1"]


# --- following the log ----------------------------------------------------------------------


def test_after_reads_oldest_first_from_a_cursor(log: EventLog, s1: str, s2: str) -> None:
    start = log.last_seq()
    log.append([row("e1", site_id=s1), row("e2", site_id=s2), row("e3", site_id=s1)], [])
    everything = log.after(start)
    assert ids(everything) == ["e1", "e2", "e3"]
    assert ids(log.after(everything[0][0])) == ["e2", "e3"]
    assert ids(log.after(start, site_id=s1)) == ["e1", "e3"]
    assert ids(log.after(start, limit=1)) == ["e1"]
    assert log.after(everything[-1][0]) == []


def test_last_seq_follows_appends(log: EventLog, s1: str) -> None:
    start = log.last_seq()
    log.append([row("e1", site_id=s1), row("e2", site_id=s1)], [])
    assert log.last_seq() > start
    assert log.last_seq() == log.after(start)[-1][0]


def test_sequence_numbers_only_grow(log: EventLog, s1: str) -> None:
    start = log.last_seq()
    for i in range(5):
        log.append([row(f"e{i}", site_id=s1)], [])
    seqs = [seq for seq, _ in log.after(start)]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 5


# --- carts ----------------------------------------------------------------------------------


def test_cart_by_guid_is_the_latest_status_cart_of_that_guid(log: EventLog, s1: str) -> None:
    first = [{"key": "a"}]
    latest = [{"key": "a"}, {"key": "b"}]
    log.append(
        [
            row("c1", site_id=s1, type="StatusCart", cart_guid="G", products=first),
            row("c2", site_id=s1, type="StatusCart", cart_guid="G", products=latest),
            row("c3", site_id=s1, type="StatusCart", cart_guid="OTHER", products=[{"key": "z"}]),
            # A purchase with the same GUID is not a cart state.
            row("p1", site_id=s1, type="PurchasedItems", cart_guid="G", products=[{"key": "q"}]),
        ],
        [],
    )
    stored = log.cart_by_guid(s1, "G")
    assert stored is not None
    assert orjson.loads(stored)["products"] == latest


def test_cart_by_guid_stays_within_its_site(log: EventLog, s1: str, s2: str) -> None:
    log.append([row("c1", site_id=s2, type="StatusCart", cart_guid="G")], [])
    assert log.cart_by_guid(s1, "G") is None
    assert log.cart_by_guid(s2, "G") is not None
    assert log.cart_by_guid(s2, "unknown") is None


# --- rejected events ------------------------------------------------------------------------


def test_rejections_are_listed_per_site_newest_first(log: EventLog, s1: str, s2: str) -> None:
    log.append([], [rejection(s1, code="first"), rejection(s2), rejection(s1, code="second")])
    listed = log.rejected(s1)
    assert [r["code"] for r in listed] == ["second", "first"]
    assert listed[0]["field"] == "ProductPage.productKey"
    assert listed[0]["body_enc"] == b"\x01\x02k1 sealed"
    assert [r["code"] for r in log.rejected(s1, limit=1)] == ["second"]
    older = log.rejected(s1, before_seq=listed[0]["seq"])
    assert [r["code"] for r in older] == ["first"]
    assert [r["code"] for r in log.rejected(s2)] == ["missing_field"]


def test_rejections_without_a_site_are_kept_but_listed_to_nobody(
    log: EventLog, engine: Engine, s1: str
) -> None:
    before = siteless_rejections(engine)
    log.append([], [rejection(None)])
    assert siteless_rejections(engine) == before + 1
    assert log.rejected(s1) == []


# --- sites and API keys ---------------------------------------------------------------------


def test_a_new_site_gets_an_api_key_shown_once(repo: SiteRepository) -> None:
    site, key = repo.create("  Demo shop ")
    assert site.name == "Demo shop"
    assert key.startswith(API_KEY_PREFIX)
    assert len(key) > 40
    assert repo.site_for_key(key) == site.site_id
    assert repo.get(site.site_id) == site


def test_the_clear_api_key_is_not_in_the_database(repo: SiteRepository, engine: Engine) -> None:
    _site, key = repo.create("Demo shop")
    with engine.connect() as conn:
        stored = [dict(r._mapping) for r in conn.execute(select(api_keys))]
        stored += [dict(r._mapping) for r in conn.execute(select(sites))]
    for record in stored:
        for value in record.values():
            assert key not in str(value)
            # Nor any long piece of it: only the short display prefix may be kept.
            assert key[10:] not in str(value)
    assert any(r.get("key_hash") == hash_api_key(key) for r in stored)


def test_a_wrong_or_revoked_key_names_no_site(repo: SiteRepository, engine: Engine) -> None:
    site, key = repo.create("Demo shop")
    assert repo.site_for_key(key + "x") is None
    assert repo.site_for_key("") is None
    with engine.begin() as conn:
        revoke = update(api_keys).where(api_keys.c.site_id == site.site_id)
        conn.execute(revoke.values(revoked_at=T0))
    assert repo.site_for_key(key) is None


def test_a_site_may_have_several_keys(repo: SiteRepository) -> None:
    site, first = repo.create("Demo shop")
    second = repo.create_key(site.site_id)
    assert second != first
    assert repo.site_for_key(first) == repo.site_for_key(second) == site.site_id


def test_sites_are_listed_and_looked_up(repo: SiteRepository, s1: str, s2: str) -> None:
    # Both characters a site id may hold besides letters and digits.
    a, _ = repo.create("A", site_id=s1.replace("-", "_"))
    b, _ = repo.create("B", site_id=s2)
    assert {a.site_id, b.site_id} <= {site.site_id for site in repo.list()}
    assert repo.get(a.site_id) == a
    assert repo.get("missing") is None


@pytest.mark.parametrize("site_id", ["has space", "x" * 65, "semi;colon", "nul\x00"])
def test_site_ids_are_checked(repo: SiteRepository, site_id: str) -> None:
    with pytest.raises(ShoptrackError) as caught:
        repo.create("Shop", site_id=site_id)
    assert caught.value.field == "site_id"


def test_a_site_id_is_unique(repo: SiteRepository, s1: str) -> None:
    repo.create("A", site_id=s1)
    with pytest.raises(ShoptrackError) as caught:
        repo.create("Again", site_id=s1)
    assert "already exists" in caught.value.message


def test_a_site_needs_a_name(repo: SiteRepository) -> None:
    with pytest.raises(ShoptrackError) as caught:
        repo.create("   ")
    assert caught.value.field == "name"
