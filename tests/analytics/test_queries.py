"""The dashboard's readers: tracking status, daily series, funnel; bots apart; no raw scans."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Connection, Engine

from shoptrack.analytics.queries import (
    PAGE_TYPES,
    DayPair,
    Funnel,
    daily_series,
    funnel,
    tracking_status,
    unique_visitors,
)
from shoptrack.analytics.snippets import SNIPPETS, loader
from shoptrack.store.tables import events
from tests.analytics.events import event, ms, process, store

DEC1 = ms("2026-12-01T12:00:00")
DEC2 = ms("2026-12-02T12:00:00")
LINE = {"key": "p1", "price": 10.0, "quantity": 3}


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    """A small shop's two days, processed, then the raw log emptied: every reader below must
    answer from the pre-computed tables alone."""
    store(
        engine,
        # 1 December: v1 views, carts and buys; v2 views; v3 buys in one click (no view).
        event("s1", "PageView", DEC1, "v1", url="https://shop.example/"),
        event("s1", "ProductPage", DEC1 + 1, "v1", url="https://shop.example/p/1"),
        event("s1", "StatusCart", DEC1 + 2, "v1", products=[LINE]),
        event("s1", "PurchasedItems", DEC1 + 3, "v1", products=[LINE], url="https://s.ex/ok"),
        event("s1", "PageView", DEC1, "v2"),
        event("s1", "ProductPage", DEC1 + 5, "v2"),
        event("s1", "PurchasedItems", DEC1 + 6, "v3", source="rest", products=[LINE]),
        # 2 December: v2 carts (viewed on the 1st), a crawler reads two pages.
        event("s1", "PageView", DEC2, "v2"),
        event("s1", "StatusCart", DEC2 + 1, "v2", products=[LINE]),
        event("s1", "PageView", DEC2, "bot", bot=True, url="https://shop.example/robots"),
        event("s1", "ProductPage", DEC2 + 1, "bot", bot=True),
        event("s2", "PageView", DEC2, "other"),
    )
    process(engine)
    with engine.begin() as emptying:
        emptying.execute(events.delete())
    with engine.connect() as connection:
        yield connection


def test_tracking_status(conn: Connection) -> None:
    status = tracking_status(conn, "s1", date(2026, 12, 2))
    assert status.installed
    assert status.last_event_at == DEC2 + 1
    assert status.last_browser_event_at == DEC2 + 1
    assert status.page_views == DayPair(today=1, yesterday=2)
    assert status.visitors == DayPair(today=1, yesterday=3)
    assert status.bot_page_views == DayPair(today=1, yesterday=0)
    assert status.bot_visitors == DayPair(today=1, yesterday=0)
    assert [p.url for p in status.bot_pages] == [
        "https://shop.example/",  # its ProductPage, a ms after the robots page
        "https://shop.example/robots",
    ]
    assert status.pages[0].url == "https://shop.example/"  # the newest first (DEC2)
    assert {p.url for p in status.pages} >= {"https://s.ex/ok", "https://shop.example/p/1"}
    seen = {t.type: t for t in status.seen}
    assert seen["PurchasedItems"].sources == ("browser", "rest")
    assert seen["PageView"].events == 4  # the crawler's too: it arrived
    assert status.never_seen == [t for t in PAGE_TYPES if t not in seen]
    assert "CategoryPage" in status.never_seen


def test_a_site_with_nothing_yet(conn: Connection) -> None:
    status = tracking_status(conn, "nobody", date(2026, 12, 2))
    assert not status.installed
    assert status.last_event_at is None
    assert status.pages == []
    assert status.never_seen == list(PAGE_TYPES)
    assert status.page_views == DayPair(0, 0)


def test_daily_series_fills_every_day_and_keeps_bots_apart(conn: Connection) -> None:
    series = daily_series(conn, "s1", date(2026, 11, 30), date(2026, 12, 3))
    assert [d.isoformat() for d in series.days] == [
        "2026-11-30",
        "2026-12-01",
        "2026-12-02",
        "2026-12-03",
    ]
    assert series.events["PageView"] == [0, 2, 1, 0]
    assert series.events["ProductPage"] == [0, 2, 0, 0]
    assert series.visitors == [0, 3, 1, 0]
    assert series.carts == [0, 1, 1, 0]
    assert series.orders == [0, 2, 0, 0]
    assert series.revenue == [0.0, 60.0, 0.0, 0.0]
    assert series.total_events == 9
    bots = daily_series(conn, "s1", date(2026, 11, 30), date(2026, 12, 3), bot=True)
    assert bots.events == {"PageView": [0, 0, 1, 0], "ProductPage": [0, 0, 1, 0]}
    assert bots.visitors == [0, 0, 1, 0]
    assert bots.orders == [0, 0, 0, 0]


def test_funnel_counts_distinct_visitors_over_the_period(conn: Connection) -> None:
    both = funnel(conn, "s1", date(2026, 12, 1), date(2026, 12, 2))
    # v2, seen on both days, is one visitor; v3 bought in one click, without a view.
    assert both == Funnel(visitors=3, viewed=2, carted=2, bought=2)
    assert funnel(conn, "s1", date(2026, 12, 1), date(2026, 12, 1)) == Funnel(3, 2, 1, 2)
    # The 2nd alone: v2 came back (seen the day before, counted again in this period).
    assert funnel(conn, "s1", date(2026, 12, 2), date(2026, 12, 2)) == Funnel(1, 0, 1, 0)
    assert unique_visitors(conn, "s1", date(2026, 12, 2), date(2026, 12, 2), bot=True) == 1
    assert funnel(conn, "s1", date(2025, 1, 1), date(2025, 1, 31)) == Funnel(0, 0, 0, 0)


def test_every_page_type_has_a_snippet_and_the_loader_quotes_its_values() -> None:
    assert set(SNIPPETS) == set(PAGE_TYPES)
    code = loader("https://track.example/scripts/", "site'1")
    assert "'https://track.example/scripts/'" not in code
    assert '"https://track.example/scripts/" + n' in code
    assert '"site\'1")' in code
    assert "eS('init'" in code
