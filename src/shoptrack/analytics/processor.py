"""The ``analytics`` processor: the dashboard's traffic counts, folded in as events arrive.

It follows the log like every processor (``processing.runner.ProcessorRunner``: one transaction
per batch, cursor ``analytics`` in ``processor_cursors``) and adds each batch to the tables of
``store/tables/analytics.py``:

* ``traffic_daily``: events per site, UTC day of ``occurred_at``, type and bot/human, and
  the orders' value (``PurchasedItems``: price × quantity over its lines, as the block and
  trigger reports count it; currencies are not converted);
* ``traffic_visitors``: each visitor's days, with whether they viewed a product
  (``ProductPage``), put something in the cart (a ``StatusCart`` with lines) or bought
  (``PurchasedItems``) that day, and their previous such days (``visitor_days.py``);
* ``traffic_types``: per type and source, first and last arrival (``received_at``) and count;
* ``traffic_pages``: the newest ``PAGES_KEPT`` distinct page addresses, as stored (scrubbed).

Every event counts once, bots too, with ``bot`` saying which (``events.traffic``), so the
pages leave them out of figures and show them apart without a setting to rebuild for.

Most events are never parsed: type, times, visitor and source are columns, and the JSON is read
only for a cart's lines, an order's value, a possible bot (its text holds ``"is_bot":true``)
and the batch's newest page addresses. Counts are added per batch, flags and times are
merged (or, min, max), previous days recomputed from the visitor's whole set of days, so the
runner's exactly-once batches and ``reports rebuild`` (which empties these tables first) give
the same numbers as one pass over the log, in any batch size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import Connection, select

from shoptrack.analytics import state
from shoptrack.analytics.days import utc_day
from shoptrack.analytics.state import Batch, PageSeen
from shoptrack.analytics.visitor_days import VisitorDay
from shoptrack.events.traffic import is_bot_event
from shoptrack.events.types import EventType
from shoptrack.store.tables import events

NAME = "analytics"
PAGES_KEPT = 10
PRODUCT_VIEW = EventType.PRODUCT_PAGE.value
CART = EventType.STATUS_CART.value
PURCHASE = EventType.PURCHASED_ITEMS.value
# orjson writes the canonical JSON compactly; the second spelling is for any other writer.
_BOT_MARKS = ('"is_bot":true', '"is_bot": true')


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


def order_value(data: Mapping[str, Any]) -> float:
    """An order's price × quantity over its lines (the trigger report's ``order_value``)."""
    total = 0.0
    for line in data.get("products") or []:
        if isinstance(line, dict):
            total += _number(line.get("price"), 0.0) * _number(line.get("quantity"), 1.0)
    return total


def _has_lines(data: Mapping[str, Any]) -> bool:
    return any(isinstance(p, dict) for p in data.get("products") or [])


def _page_url(data: Mapping[str, Any]) -> str | None:
    page = data.get("page")
    url = page.get("url") if isinstance(page, dict) else None
    return url if isinstance(url, str) and url else None


class AnalyticsProcessor:
    name = NAME

    def handle(self, conn: Connection, after: int, upto: int) -> None:
        e = events.c
        stmt = (
            select(e.site_id, e.type, e.occurred_at, e.received_at, e.visitor_id, e.source, e.data)
            .where(e.seq > after, e.seq <= upto)
            .order_by(e.seq)
        )
        batches: dict[str, Batch] = defaultdict(Batch)
        # Per site, the rows not parsed yet, newest last: the page addresses are read from the
        # newest ones only.
        unread: dict[str, list[tuple[str, int, str, bool]]] = defaultdict(list)
        for site_id, kind, occurred_at, received_at, visitor_id, source, text in conn.execute(stmt):
            batch = batches[site_id]
            data: dict[str, Any] | None = None
            if kind in (CART, PURCHASE) or (
                source == "browser" and any(mark in text for mark in _BOT_MARKS)
            ):
                parsed = orjson.loads(text)
                data = parsed if isinstance(parsed, dict) else {}
            bot = data is not None and is_bot_event(data)
            day = utc_day(int(occurred_at))
            key = (day, kind, bot)
            batch.events[key] += 1
            if kind == PURCHASE and data is not None:
                batch.revenue[key] += order_value(data)
            batch.see_type(kind, source, int(received_at))
            if visitor_id:
                visit = batch.visitors.get((bot, day, visitor_id))
                if visit is None:
                    visit = batch.visitors[(bot, day, visitor_id)] = VisitorDay()
                if kind == PRODUCT_VIEW:
                    visit.viewed = True
                elif kind == CART and data is not None and _has_lines(data):
                    visit.carted = True
                elif kind == PURCHASE:
                    visit.bought = True
            unread[site_id].append((kind, int(received_at), text, bot))
        for site_id, rows in unread.items():
            batches[site_id].pages = _newest_pages(rows)
        for site_id in sorted(batches):
            state.write(conn, site_id, batches[site_id], PAGES_KEPT)


def _newest_pages(rows: list[tuple[str, int, str, bool]]) -> list[PageSeen]:
    """The newest ``PAGES_KEPT`` distinct addresses per bot/human, reading back from the end."""
    found: dict[tuple[bool, str], PageSeen] = {}
    per_kind: dict[bool, int] = defaultdict(int)
    for kind, received_at, text, bot in reversed(rows):
        if per_kind[False] >= PAGES_KEPT and per_kind[True] >= PAGES_KEPT:
            break
        if per_kind[bot] >= PAGES_KEPT or '"url":"' not in text:
            continue
        parsed = orjson.loads(text)
        url = _page_url(parsed) if isinstance(parsed, dict) else None
        if url is None or (bot, url) in found:
            continue
        found[(bot, url)] = PageSeen(bot, url, kind, received_at)
        per_kind[bot] += 1
    return list(found.values())
