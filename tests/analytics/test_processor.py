"""The ``analytics`` processor on both stores: what it counts, on which day, bots apart."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Table, select

from shoptrack.analytics.processor import PAGES_KEPT
from shoptrack.analytics.state import forget_visitors
from shoptrack.config import Settings
from shoptrack.processing.rebuild import rebuild
from shoptrack.store.tables import traffic_daily, traffic_pages, traffic_types, traffic_visitors
from tests.analytics.events import event, ms, process, store

LINE = {"key": "p1", "price": 12.5, "quantity": 2}


def rows(engine: Engine, table: Table, *columns: str) -> list[tuple[Any, ...]]:
    chosen = [table.c[name] for name in columns] if columns else list(table.c)
    with engine.connect() as conn:
        found = conn.execute(select(*chosen)).all()
    return sorted(tuple(bool(v) if isinstance(v, bool) else v for v in r) for r in found)


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    tables = (traffic_daily, traffic_visitors, traffic_types, traffic_pages)
    return {t.name: rows(engine, t) for t in tables}


def test_counts_per_day_type_and_bot_with_revenue_and_funnel_steps(engine: Engine) -> None:
    day = ms("2026-12-01T10:00:00")
    store(
        engine,
        event("s1", "PageView", day, "v1"),
        event("s1", "ProductPage", day + 1, "v1", products=[{"key": "p1"}]),
        event("s1", "StatusCart", day + 2, "v1", products=[LINE]),
        event("s1", "PurchasedItems", day + 3, "v1", products=[LINE, {"key": "p2", "price": 5}]),
        event("s1", "PageView", day + 4, "v2"),
        event("s1", "StatusCart", day + 5, "v2", products=[]),  # an emptied cart: no step
        event("s1", "PageView", day + 6, "crawler", bot=True),
        event("s2", "PageView", day, "v1"),
    )
    process(engine)
    assert rows(engine, traffic_daily) == [
        ("s1", "2026-12-01", "PageView", False, 2, 0.0),
        ("s1", "2026-12-01", "PageView", True, 1, 0.0),
        ("s1", "2026-12-01", "ProductPage", False, 1, 0.0),
        ("s1", "2026-12-01", "PurchasedItems", False, 1, 30.0),
        ("s1", "2026-12-01", "StatusCart", False, 2, 0.0),
        ("s2", "2026-12-01", "PageView", False, 1, 0.0),
    ]
    steps = ("site_id", "bot", "day", "visitor_id", "viewed", "carted", "bought")
    assert rows(engine, traffic_visitors, *steps) == [
        ("s1", False, "2026-12-01", "v1", True, True, True),
        ("s1", False, "2026-12-01", "v2", False, False, False),
        ("s1", True, "2026-12-01", "crawler", False, False, False),
        ("s2", False, "2026-12-01", "v1", False, False, False),
    ]
    types = rows(engine, traffic_types, "site_id", "type", "source", "events")
    assert ("s1", "PageView", "browser", 3) in types
    assert ("s1", "StatusCart", "browser", 2) in types


def test_a_day_is_the_utc_day_of_occurred_at(engine: Engine) -> None:
    midnight = ms("2026-12-02T00:00:00")
    store(
        engine,
        event("s1", "PageView", midnight - 1, "v1"),
        event("s1", "PageView", midnight, "v1"),
        event("s1", "PageView", midnight + 86_400_000 - 1, "v2"),
    )
    process(engine)
    assert rows(engine, traffic_daily, "day", "events") == [
        ("2026-12-01", 1),
        ("2026-12-02", 2),
    ]
    assert rows(engine, traffic_visitors, "day", "visitor_id") == [
        ("2026-12-01", "v1"),
        ("2026-12-02", "v1"),
        ("2026-12-02", "v2"),
    ]


def test_only_browser_events_can_be_bots(engine: Engine) -> None:
    at = ms("2026-12-01T10:00:00")
    store(
        engine,
        event("s1", "PageView", at, "bot", bot=True),
        # The shop's server relays the order: its agent (python-requests) is no crawler's.
        event("s1", "PurchasedItems", at, "v1", source="rest", bot=True, products=[LINE]),
    )
    process(engine)
    assert rows(engine, traffic_daily, "type", "bot", "events", "revenue") == [
        ("PageView", True, 1, 0.0),
        ("PurchasedItems", False, 1, 25.0),
    ]


def test_types_keep_first_and_last_arrival_by_receive_time(engine: Engine) -> None:
    at = ms("2026-12-01T10:00:00")
    store(
        engine,
        event("s1", "PageView", at, received_at=at + 500),
        event("s1", "PageView", at - 100_000, received_at=at + 1000),  # a late client clock
        event("s1", "MainPage", at, source="rest", received_at=at + 7),
    )
    process(engine, batch_size=1)
    assert rows(engine, traffic_types) == [
        ("s1", "MainPage", "rest", at + 7, at + 7, 1),
        ("s1", "PageView", "browser", at + 500, at + 1000, 2),
    ]


def test_only_the_newest_distinct_pages_are_kept(engine: Engine) -> None:
    at = ms("2026-12-01T10:00:00")
    pages = [f"https://shop.example/p/{n}" for n in range(PAGES_KEPT + 5)]
    store(
        engine,
        *(event("s1", "PageView", at + n, url=url) for n, url in enumerate(pages)),
        event("s1", "ProductPage", at + 100, url=pages[0]),  # seen again: now the newest
        event("s1", "PageView", at + 101, url=None),
        event("s1", "PageView", at + 102, bot=True, url="https://shop.example/robots"),
    )
    process(engine, batch_size=4)
    kept = rows(engine, traffic_pages, "bot", "url", "type", "last_seen")
    human = [r for r in kept if not r[0]]
    assert len(human) == PAGES_KEPT
    assert (False, pages[0], "ProductPage", at + 100) in human
    assert {r[1] for r in human} == {pages[0], *pages[-(PAGES_KEPT - 1) :]}
    assert [r for r in kept if r[0]] == [
        (True, "https://shop.example/robots", "PageView", at + 102)
    ]


def test_batches_of_any_size_and_a_rebuild_give_the_same_rows(
    engine: Engine, settings: Settings
) -> None:
    day = ms("2026-12-01T23:59:59")
    rows_in = []
    for n in range(60):
        visitor = f"v{n % 7}"
        kind = ("PageView", "ProductPage", "StatusCart", "PurchasedItems")[n % 4]
        rows_in.append(
            event(
                "s1",
                kind,
                day + n * 97,
                visitor,
                bot=n % 11 == 0,
                url=f"https://shop.example/{n % 13}",
                products=[LINE],
            )
        )
    store(engine, *rows_in)
    process(engine, batch_size=1)
    one_by_one = snapshot(engine)
    rebuild(engine, settings)
    assert snapshot(engine) == one_by_one
    rebuild(engine, settings.model_copy(update={"processor_batch_size": 5000}))
    assert snapshot(engine) == one_by_one
    assert sum(r[4] for r in one_by_one["traffic_daily"]) == 60


def test_an_erasure_renames_the_persons_visitor_days_and_keeps_the_counts(
    engine: Engine,
) -> None:
    at = ms("2026-12-01T10:00:00")
    store(
        engine,
        event("s1", "ProductPage", at, "gone"),
        event("s1", "ProductPage", at + 86_400_000, "gone"),
        event("s1", "PageView", at, "stays"),
        event("s2", "PageView", at, "gone"),  # another site's visitor of that id
    )
    process(engine)
    with engine.begin() as conn:
        report = forget_visitors(conn, "s1", ["ct_1"], ["gone"])
    assert report == {"traffic_visitor_days_renamed": 2}
    kept = rows(engine, traffic_visitors, "site_id", "day", "visitor_id", "viewed")
    assert [r[2] for r in kept if r[0] == "s1"].count("gone") == 0
    renamed = {r[2] for r in kept if r[0] == "s1" and r[2].startswith("erased-")}
    assert len(renamed) == 1  # one pseudonym for the visitor, over both days
    assert ("s2", "2026-12-01", "gone", False) in kept
    assert len(kept) == 4


def test_previous_days_are_right_whatever_order_the_days_arrive_in(engine: Engine) -> None:
    def on(day: int) -> int:
        return ms(f"2026-12-{day:02d}T12:00:00")

    store(
        engine,
        event("s1", "PageView", on(5), "v1"),
        event("s1", "ProductPage", on(1), "v1"),
        event("s1", "PurchasedItems", on(3), "v1", products=[LINE]),
        event("s1", "ProductPage", on(3), "v1"),
        event("s1", "StatusCart", on(2), "v1", products=[LINE]),
    )
    process(engine, batch_size=1)
    columns = ("day", "viewed", "carted", "bought", "prev_day", "prev_viewed", "prev_carted",
               "prev_bought")  # fmt: skip
    assert rows(engine, traffic_visitors, *columns) == [
        ("2026-12-01", True, False, False, None, None, None, None),
        ("2026-12-02", False, True, False, "2026-12-01", "2026-12-01", None, None),
        ("2026-12-03", True, False, True, "2026-12-02", "2026-12-01", "2026-12-02", None),
        ("2026-12-05", False, False, False, "2026-12-03", "2026-12-03", "2026-12-02", "2026-12-03"),
    ]
