"""The ``reports`` processor: daily counts per site, block and variant from the event log.

It follows the log like every processor (``processing.runner.ProcessorRunner``: one transaction per
batch, cursor ``reports`` in ``processor_cursors``) and adds each batch's counts to
``report_block_daily`` (UTC day of the event's ``occurred_at``). What it counts:

* **impressions**: a ``ProductImpression`` event adds one block view per ``container_type``
  among its products (``products[].block``), and the number of those products to
  ``product_impressions``. The tracker sends one such event per block view.
* **clicks**: an event whose ``location`` (``s_location`` / the page's ``sc_content``) names
  a block. The tracker repeats a remembered ``sc_content`` on the session's later events, so
  a click counts once per visitor session and block, and again only when a page whose own URL
  carries the ``sc_content`` (another landing from the block) differs from the last one.
* **reached from the block** (``report_clicks``: the last block per visitor and product): a
  ``ProductPage`` whose own URL carries the block's ``sc_content`` (the link's landing), or
  whose ``s_location`` names a block the session had not come through yet (a "buy" button in
  the block sends one). A ``ProductPage`` that only repeats the session's remembered
  ``sc_content`` was reached by browsing on, not from the block. A ``StatusCart`` line that
  names its block (``products[].block``) was added to the cart from it.
* **add-to-carts**: a ``StatusCart`` holding a product the same visitor reached from a block
  within the attribution window counts once for that click.
* **purchases, items, revenue** (direct): a ``PurchasedItems`` line counts for a block when
  it names the block (``products[].block``) or its product was reached from the block by the
  same visitor within ``attribution_window_days`` (each click converts once). A purchase
  counts once per block; ``items`` and ``revenue`` are those lines' quantity and
  price × quantity, never the rest of the order.
* **assisted_purchases, assisted_revenue** (session level): the order counts, whole, for
  every block it was credited to above, every block its ``Tags.blockId`` (the session's
  ``sc_content``, per the spec) or its ``location`` names, and every block the visitor's
  session came through.

Bot traffic (:func:`~shoptrack.events.traffic.is_bot_event`) is skipped unless
``include_bots``: a bot's events neither count nor change the attribution state.

Events are read in ``seq`` order and every decision depends only on earlier events, so
replaying the log from an empty state (``shoptrack reports rebuild``) gives the same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, select

from shoptrack.events.location import location_from_url
from shoptrack.events.traffic import is_bot_event
from shoptrack.reports.ids import BlockRef, parse_container
from shoptrack.reports.state import AttributionState, Click, Counts, load, write
from shoptrack.store.tables import events

NAME = "reports"
DAY_MS = 86_400_000
# A purchase may carry a client time a little before the click's (clock corrections).
CLOCK_SLACK_MS = 5 * 60 * 1000
TAG_NAMES = frozenset({"blockid", "block_id"})


def utc_day(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


@dataclass(slots=True)
class Row:
    seq: int
    type: str
    occurred_at: int
    visitor_id: str | None
    session_id: str | None
    data: dict[str, Any]


@dataclass(slots=True)
class Credit:
    """What one purchase gives one block: direct lines, and whether it assisted."""

    items: float = 0.0
    revenue: float = 0.0
    direct: bool = False


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


def _line_value(product: dict[str, Any]) -> tuple[float, float]:
    """(quantity, price × quantity) of an order line."""
    quantity = _number(product.get("quantity"), 1.0)
    return quantity, _number(product.get("price"), 0.0) * quantity


class ReportsProcessor:
    name = NAME

    def __init__(self, attribution_window_days: int = 7, include_bots: bool = False) -> None:
        self.window_ms = max(0, attribution_window_days) * DAY_MS
        self.include_bots = include_bots

    # -- the runner's entry point ---------------------------------------------------------
    def handle(self, conn: Connection, after: int, upto: int) -> None:
        stmt = (
            select(
                events.c.seq,
                events.c.site_id,
                events.c.type,
                events.c.occurred_at,
                events.c.visitor_id,
                events.c.session_id,
                events.c.data,
            )
            .where(events.c.seq > after, events.c.seq <= upto)
            .order_by(events.c.seq)
        )
        by_site: dict[str, list[Row]] = defaultdict(list)
        for r in conn.execute(stmt):
            data = orjson.loads(r.data)
            if not isinstance(data, dict) or not self._relevant(r.type, data):
                continue
            by_site[r.site_id].append(
                Row(r.seq, r.type, r.occurred_at, r.visitor_id, r.session_id, data)
            )
        for site_id in sorted(by_site):
            self._site(conn, site_id, by_site[site_id])

    def _relevant(self, event_type: str, data: dict[str, Any]) -> bool:
        if not self.include_bots and is_bot_event(data):
            return False
        if data.get("location"):
            return True
        return event_type in ("ProductImpression", "StatusCart", "PurchasedItems")

    # -- one site's events of the batch ---------------------------------------------------
    def _site(self, conn: Connection, site_id: str, rows: list[Row]) -> None:
        visitors = sorted({r.visitor_id for r in rows if r.visitor_id})
        sessions = sorted(
            {
                (r.visitor_id, r.session_id or "")
                for r in rows
                if r.visitor_id and (r.data.get("location") or r.type == "PurchasedItems")
            }
        )
        state = load(conn, site_id, visitors, sessions)
        counts: dict[tuple[str, str, str], Counts] = defaultdict(Counts)

        def add(day: str, ref: BlockRef) -> Counts:
            return counts[(day, ref.block_id, ref.variant_id)]

        for row in rows:
            day = utc_day(row.occurred_at)
            products = [p for p in row.data.get("products") or [] if isinstance(p, dict)]
            if row.type == "ProductImpression":
                for ref, shown in self._impressions(products).items():
                    seen = add(day, ref)
                    seen.impressions += 1
                    seen.product_impressions += shown
            location = parse_container(row.data.get("location"))
            if location is not None and row.visitor_id:
                self._click(state, row, location, products, add(day, location))
            if row.type == "StatusCart" and row.visitor_id:
                for ref in self._cart(state, row, products):
                    add(day, ref).add_to_carts += 1
            if row.type == "PurchasedItems":
                order_revenue = sum(_line_value(p)[1] for p in products)
                for ref, credit in self._purchase(state, row, products).items():
                    bought = add(day, ref)
                    if credit.direct:
                        bought.purchases += 1
                        bought.items += credit.items
                        bought.revenue += credit.revenue
                    bought.assisted_purchases += 1
                    bought.assisted_revenue += order_revenue
        write(conn, site_id, state, counts)

    @staticmethod
    def _keys(products: Iterable[dict[str, Any]]) -> list[str]:
        return [str(p["key"]) for p in products if isinstance(p.get("key"), str) and p["key"]]

    @staticmethod
    def _impressions(products: list[dict[str, Any]]) -> dict[BlockRef, int]:
        """Products shown per block (one impression event is one view of each block in it)."""
        per_block: dict[BlockRef, int] = defaultdict(int)
        for product in products:
            ref = parse_container(product.get("block"))
            if ref is not None:
                per_block[ref] += 1
        return per_block

    def _click(
        self,
        state: AttributionState,
        row: Row,
        ref: BlockRef,
        products: list[dict[str, Any]],
        counts: Counts,
    ) -> None:
        assert row.visitor_id is not None
        location = str(row.data.get("location"))
        url = (row.data.get("page") or {}).get("url")
        url = url if isinstance(url, str) else None
        key = (row.visitor_id, row.session_id or "", location)
        seen = state.sessions.get(key)
        landed_from = parse_container(location_from_url(url))
        if seen is None or (landed_from is not None and url != seen[0]):
            counts.clicks += 1
            state.enter_session(key, url, row.occurred_at)
        # The session's remembered sc_content on a page reached by browsing on is no click
        # on this product; a landing's URL, or an s_location new to the session, is.
        if row.type != "ProductPage" or (seen is not None and landed_from != ref):
            return
        for product_key in self._keys(products):
            self._reach(state, row, product_key, ref)

    def _reach(self, state: AttributionState, row: Row, product_key: str, ref: BlockRef) -> Click:
        """Record that the visitor reached the product from the block now."""
        assert row.visitor_id is not None
        ckey = (row.visitor_id, product_key)
        known = state.clicks.get(ckey)
        if known is not None and known.block == ref and known.session_id == row.session_id:
            known.clicked_at = max(known.clicked_at, row.occurred_at)  # a re-view
        else:
            known = state.clicks[ckey] = Click(ref, row.occurred_at, row.session_id)
        state.dirty_clicks.add(ckey)
        return known

    def _cart(
        self, state: AttributionState, row: Row, products: list[dict[str, Any]]
    ) -> list[BlockRef]:
        """The blocks that get an add-to-cart from this cart (each click counts once)."""
        assert row.visitor_id is not None
        carted: list[BlockRef] = []
        for product in products:
            key = product.get("key")
            if not isinstance(key, str) or not key:
                continue
            ref = parse_container(product.get("block"))
            click = self._active(state, row, key)
            if ref is not None and (click is None or click.block != ref):
                click = self._reach(state, row, key, ref)  # added to the cart in the block
            if click is not None and not click.carted:
                click.carted = True
                state.dirty_clicks.add((row.visitor_id, key))
                carted.append(click.block)
        return carted

    def _active(self, state: AttributionState, row: Row, product_key: str) -> Click | None:
        """The visitor's click on this product, when it is within the attribution window."""
        if not self.window_ms or row.visitor_id is None:
            return None
        click = state.clicks.get((row.visitor_id, product_key))
        if click is None:
            return None
        age = row.occurred_at - click.clicked_at
        if age < -CLOCK_SLACK_MS or age > self.window_ms:
            return None
        return click

    def _purchase(
        self, state: AttributionState, row: Row, products: list[dict[str, Any]]
    ) -> dict[BlockRef, Credit]:
        """The blocks this purchase counts for: the lines credited to each, and the assists.

        A line goes to the block it names, else to the block its product was reached from;
        never to two blocks.
        """
        credits: dict[BlockRef, Credit] = {}
        for product in products:
            ref = parse_container(product.get("block"))
            key = product.get("key")
            click = self._active(state, row, key) if isinstance(key, str) and key else None
            if click is not None and not click.converted and ref in (None, click.block):
                click.converted = True
                assert row.visitor_id is not None
                state.dirty_clicks.add((row.visitor_id, str(key)))
                ref = click.block
            if ref is None:
                continue
            credit = credits.setdefault(ref, Credit())
            items, revenue = _line_value(product)
            credit.direct = True
            credit.items += items
            credit.revenue += revenue
        for ref in self._session_blocks(state, row):
            credits.setdefault(ref, Credit())  # assisted only: no line of its own
        return credits

    @staticmethod
    def _session_blocks(state: AttributionState, row: Row) -> set[BlockRef]:
        """The blocks the order's session came through, or its tags and location name."""
        refs = set(state.session_blocks.get((row.visitor_id or "", row.session_id or ""), ()))
        named = [row.data.get("location")]
        tags = row.data.get("tags") or {}
        if isinstance(tags, dict):
            for name, values in tags.items():
                if str(name).lower() in TAG_NAMES and isinstance(values, list):
                    named.extend(values)
        refs.update(ref for ref in map(parse_container, named) if ref is not None)
        return refs
