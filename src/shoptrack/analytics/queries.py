"""The dashboard's traffic figures, read from the pre-computed tables only (never ``events``).

Every reader takes ``bot``: figures are of human traffic (``bot=False``) unless asked, and the
pages show bots apart by reading again with ``bot=True``. Days are UTC, periods inclusive.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select

from shoptrack.analytics.days import days_between
from shoptrack.analytics.processor import CART, PURCHASE
from shoptrack.events.types import SERVER_ONLY_TYPES, EventType
from shoptrack.store.tables import traffic_daily, traffic_pages, traffic_types, traffic_visitors

PAGE_VIEW = EventType.PAGE_VIEW.value
# The types a shop's pages send (``ProductUpdate`` comes from its server or its feed).
PAGE_TYPES = tuple(t.value for t in EventType if t not in SERVER_ONLY_TYPES)


@dataclass(frozen=True, slots=True)
class TypeSeen:
    type: str
    sources: tuple[str, ...]
    first_seen: int
    last_seen: int
    events: int


@dataclass(frozen=True, slots=True)
class RecentPage:
    url: str
    type: str
    last_seen: int


@dataclass(frozen=True, slots=True)
class DayPair:
    """A figure today and yesterday (UTC)."""

    today: int
    yesterday: int


@dataclass(frozen=True, slots=True)
class TrackingStatus:
    installed: bool  # a browser event arrived: the snippet runs on some page
    last_event_at: int | None
    last_browser_event_at: int | None
    pages: list[RecentPage]
    bot_pages: list[RecentPage]
    page_views: DayPair
    visitors: DayPair
    bot_page_views: DayPair
    bot_visitors: DayPair
    seen: list[TypeSeen]
    never_seen: list[str]


def event_types(conn: Connection, site_id: str) -> list[TypeSeen]:
    T = traffic_types
    stmt = select(T.c.type, T.c.source, T.c.first_seen, T.c.last_seen, T.c.events).where(
        T.c.site_id == site_id
    )
    merged: dict[str, list[tuple[str, int, int, int]]] = defaultdict(list)
    for kind, source, first, last, count in conn.execute(stmt):
        merged[kind].append((source, int(first), int(last), int(count)))
    return [
        TypeSeen(
            kind,
            tuple(sorted(p[0] for p in parts)),
            min(p[1] for p in parts),
            max(p[2] for p in parts),
            sum(p[3] for p in parts),
        )
        for kind, parts in sorted(merged.items())
    ]


def recent_pages(conn: Connection, site_id: str, bot: bool = False) -> list[RecentPage]:
    P = traffic_pages
    stmt = (
        select(P.c.url, P.c.type, P.c.last_seen)
        .where(P.c.site_id == site_id, P.c.bot == bot)
        .order_by(P.c.last_seen.desc(), P.c.url_hash)
    )
    return [RecentPage(url, kind, int(seen)) for url, kind, seen in conn.execute(stmt)]


def _events_on(conn: Connection, site_id: str, kind: str, days: list[str], bot: bool) -> list[int]:
    D = traffic_daily
    stmt = select(D.c.day, D.c.events).where(
        D.c.site_id == site_id, D.c.type == kind, D.c.bot == bot, D.c.day.in_(days)
    )
    found = {day: int(count) for day, count in conn.execute(stmt)}
    return [found.get(day, 0) for day in days]


def _visitors_on(conn: Connection, site_id: str, days: list[str], bot: bool) -> list[int]:
    V = traffic_visitors
    stmt = (
        select(V.c.day, func.count())
        .where(V.c.site_id == site_id, V.c.bot == bot, V.c.day.in_(days))
        .group_by(V.c.day)
    )
    found = {day: int(count) for day, count in conn.execute(stmt)}
    return [found.get(day, 0) for day in days]


def tracking_status(conn: Connection, site_id: str, today: date) -> TrackingStatus:
    seen = event_types(conn, site_id)
    browser = [t.last_seen for t in seen if "browser" in t.sources]
    days = [today.isoformat(), (today - timedelta(days=1)).isoformat()]
    seen_types = {t.type for t in seen}

    def pair(values: list[int]) -> DayPair:
        return DayPair(values[0], values[1])

    # A browser's last time needs the per-source rows: the merged ones mix sources.
    last_browser = _last_browser_event(conn, site_id) if browser else None
    return TrackingStatus(
        installed=bool(browser),
        last_event_at=max((t.last_seen for t in seen), default=None),
        last_browser_event_at=last_browser,
        pages=recent_pages(conn, site_id, bot=False),
        bot_pages=recent_pages(conn, site_id, bot=True),
        page_views=pair(_events_on(conn, site_id, PAGE_VIEW, days, bot=False)),
        visitors=pair(_visitors_on(conn, site_id, days, bot=False)),
        bot_page_views=pair(_events_on(conn, site_id, PAGE_VIEW, days, bot=True)),
        bot_visitors=pair(_visitors_on(conn, site_id, days, bot=True)),
        seen=seen,
        never_seen=[t for t in PAGE_TYPES if t not in seen_types],
    )


def _last_browser_event(conn: Connection, site_id: str) -> int | None:
    T = traffic_types
    stmt = select(func.max(T.c.last_seen)).where(T.c.site_id == site_id, T.c.source == "browser")
    value = conn.execute(stmt).scalar()
    return None if value is None else int(value)


@dataclass
class DailySeries:
    """One value per day of the period for each figure (zeros on days without traffic)."""

    days: list[date]
    events: dict[str, list[int]] = field(default_factory=dict)  # per type seen in the period
    visitors: list[int] = field(default_factory=list)
    carts: list[int] = field(default_factory=list)  # StatusCart events
    orders: list[int] = field(default_factory=list)  # PurchasedItems events
    revenue: list[float] = field(default_factory=list)

    @property
    def total_events(self) -> int:
        return sum(sum(values) for values in self.events.values())


def daily_series(
    conn: Connection, site_id: str, first: date, last: date, bot: bool = False
) -> DailySeries:
    days = days_between(first, last)
    names = [d.isoformat() for d in days]
    index = {name: n for n, name in enumerate(names)}
    D = traffic_daily
    stmt = select(D.c.day, D.c.type, D.c.events, D.c.revenue).where(
        D.c.site_id == site_id, D.c.bot == bot, D.c.day >= names[0], D.c.day <= names[-1]
    )
    series = DailySeries(days, revenue=[0.0] * len(days))
    for day, kind, count, revenue in conn.execute(stmt):
        n = index.get(day)
        if n is None:
            continue
        series.events.setdefault(kind, [0] * len(days))[n] += int(count)
        series.revenue[n] += float(revenue)
    series.events = dict(sorted(series.events.items()))
    series.carts = series.events.get(CART, [0] * len(days))
    series.orders = series.events.get(PURCHASE, [0] * len(days))
    V = traffic_visitors
    stmt_visitors = (
        select(V.c.day, func.count())
        .where(V.c.site_id == site_id, V.c.bot == bot, V.c.day >= names[0], V.c.day <= names[-1])
        .group_by(V.c.day)
    )
    per_day = {day: int(count) for day, count in conn.execute(stmt_visitors)}
    series.visitors = [per_day.get(name, 0) for name in names]
    return series


@dataclass(frozen=True, slots=True)
class Funnel:
    """Distinct visitors of a period: all of them, and those who viewed a product, put
    something in the cart, bought. Each step counts whoever took it in the period, whether or
    not they took the step before (a one-click purchase, an order sent by the shop's server)."""

    visitors: int
    viewed: int
    carted: int
    bought: int


def funnel(conn: Connection, site_id: str, first: date, last: date, bot: bool = False) -> Funnel:
    """One range scan of the period's visitor days: a visitor counts on its first day in the
    period with the step, the row whose previous such day is before it (``visitor_days.py``)."""
    V = traffic_visitors
    start = first.isoformat()

    def first_in_period(previous: Any, step: Any = None) -> Any:
        new = or_(previous.is_(None), previous < start)
        return func.coalesce(
            func.sum(case((new if step is None else and_(step, new), 1), else_=0)), 0
        )

    stmt = select(
        first_in_period(V.c.prev_day),
        first_in_period(V.c.prev_viewed, V.c.viewed),
        first_in_period(V.c.prev_carted, V.c.carted),
        first_in_period(V.c.prev_bought, V.c.bought),
    ).where(
        V.c.site_id == site_id,
        V.c.bot == bot,
        V.c.day >= start,
        V.c.day <= last.isoformat(),
    )
    row = conn.execute(stmt).one()
    return Funnel(*(int(value) for value in row))


def unique_visitors(
    conn: Connection, site_id: str, first: date, last: date, bot: bool = False
) -> int:
    return funnel(conn, site_id, first, last, bot).visitors
