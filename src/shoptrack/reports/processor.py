"""The ``reports`` processor: daily counts per site, block and variant from the event log.

It follows the log like every processor (``worker.ProcessorRunner``: one transaction per
batch, cursor ``reports`` in ``processor_cursors``) and adds each batch's counts to
``report_block_daily`` (UTC day of the event's ``occurred_at``). What it counts:

* **impressions**: a ``ProductImpression`` event adds one block view per ``container_type``
  among its products (``products[].block``), and the number of those products to
  ``product_impressions``. The tracker sends one such event per block view.
* **clicks**: an event whose ``location`` (``s_location`` / the page's ``sc_content``) names
  a block. The tracker repeats a remembered ``sc_content`` on the session's later events, so
  a click counts once per visitor session and block, and again only when a page whose own URL
  carries the ``sc_content`` (another landing from the block) differs from the last one.
  A ``ProductPage`` with a location records that the visitor reached that product from the
  block (``report_clicks``: the last block per visitor and product).
* **add-to-carts**: a ``StatusCart`` holding a product the same visitor reached from a block
  within the attribution window counts once for that click.
* **purchases**: a ``PurchasedItems`` event counts for a block when its ``Tags.blockId`` (or
  ``block_id``) names the block (the whole order), when one of its lines carries the block
  (``products[].block``), or when a purchased product was reached from the block by the same
  visitor within ``attribution_window_days`` (those lines; each click converts once). A
  purchase credits each block once; ``items`` and ``revenue`` are the credited lines' quantity
  and price × quantity.

Events are read in ``seq`` order and every decision depends only on earlier events, so
replaying the log from an empty state (``shoptrack reports rebuild``) gives the same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Table, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shoptrack.reports.ids import BlockRef, parse_container
from shoptrack.store.tables import (
    events,
    report_block_daily,
    report_click_sessions,
    report_clicks,
)

NAME = "reports"
DAY_MS = 86_400_000
# A purchase may carry a client time a little before the click's (clock corrections).
CLOCK_SLACK_MS = 5 * 60 * 1000
TAG_NAMES = frozenset({"blockid", "block_id"})
COUNTERS = (
    "impressions",
    "product_impressions",
    "clicks",
    "add_to_carts",
    "purchases",
    "items",
    "revenue",
)
_CHUNK = 400
T = TypeVar("T")


def utc_day(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class Counts:
    impressions: int = 0
    product_impressions: int = 0
    clicks: int = 0
    add_to_carts: int = 0
    purchases: int = 0
    items: float = 0.0
    revenue: float = 0.0


@dataclass
class Click:
    block: BlockRef
    clicked_at: int
    session_id: str | None
    carted: bool = False
    converted: bool = False


@dataclass
class SiteState:
    """One site's attribution state for the visitors of a batch, loaded once, written once."""

    clicks: dict[tuple[str, str], Click] = field(default_factory=dict)
    sessions: dict[tuple[str, str, str], tuple[str | None, int]] = field(default_factory=dict)
    dirty_clicks: set[tuple[str, str]] = field(default_factory=set)
    dirty_sessions: set[tuple[str, str, str]] = field(default_factory=set)


@dataclass(slots=True)
class Row:
    seq: int
    type: str
    occurred_at: int
    visitor_id: str | None
    session_id: str | None
    data: dict[str, Any]


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


def _insert(conn: Connection, table: Table) -> Any:
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


class ReportsProcessor:
    name = NAME

    def __init__(self, attribution_window_days: int = 7) -> None:
        self.window_ms = max(0, attribution_window_days) * DAY_MS

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

    @staticmethod
    def _relevant(event_type: str, data: dict[str, Any]) -> bool:
        if data.get("location"):
            return True
        return event_type in ("ProductImpression", "StatusCart", "PurchasedItems")

    # -- one site's events of the batch ---------------------------------------------------
    def _site(self, conn: Connection, site_id: str, rows: list[Row]) -> None:
        state = self._load(conn, site_id, rows)
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
                for key in self._keys(products):
                    click = self._active(state, row, key)
                    if click is not None and not click.carted:
                        click.carted = True
                        state.dirty_clicks.add((row.visitor_id, key))
                        add(day, click.block).add_to_carts += 1
            if row.type == "PurchasedItems":
                for ref, (items, revenue) in self._purchase(state, row, products).items():
                    bought = add(day, ref)
                    bought.purchases += 1
                    bought.items += items
                    bought.revenue += revenue
        self._write(conn, site_id, state, counts)

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
        state: SiteState,
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
        landing = url is not None and "sc_content=" in url
        if seen is None or (landing and url != seen[0]):
            counts.clicks += 1
            state.sessions[key] = (url, row.occurred_at)
            state.dirty_sessions.add(key)
        if row.type != "ProductPage":
            return
        for product_key in self._keys(products):
            ckey = (row.visitor_id, product_key)
            known = state.clicks.get(ckey)
            if known is not None and known.block == ref and known.session_id == row.session_id:
                known.clicked_at = max(known.clicked_at, row.occurred_at)  # a re-view
            else:
                state.clicks[ckey] = Click(ref, row.occurred_at, row.session_id)
            state.dirty_clicks.add(ckey)

    def _active(self, state: SiteState, row: Row, product_key: str) -> Click | None:
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
        self, state: SiteState, row: Row, products: list[dict[str, Any]]
    ) -> dict[BlockRef, tuple[float, float]]:
        """The blocks this purchase counts for, with the items and revenue credited to each."""
        lines: dict[BlockRef, set[int]] = {}
        tags = row.data.get("tags") or {}
        if isinstance(tags, dict):
            for name, values in tags.items():
                if str(name).lower() not in TAG_NAMES or not isinstance(values, list):
                    continue
                for value in values:
                    ref = parse_container(value)
                    if ref is not None:
                        lines[ref] = set(range(len(products)))  # the whole order
        for index, product in enumerate(products):
            ref = parse_container(product.get("block"))
            if ref is not None:
                lines.setdefault(ref, set()).add(index)
            key = product.get("key")
            if not isinstance(key, str) or not key:
                continue
            click = self._active(state, row, key)
            if click is not None and not click.converted:
                click.converted = True
                assert row.visitor_id is not None
                state.dirty_clicks.add((row.visitor_id, key))
                lines.setdefault(click.block, set()).add(index)
        credited: dict[BlockRef, tuple[float, float]] = {}
        for ref, indexes in lines.items():
            items = revenue = 0.0
            for index in indexes:
                product = products[index]
                quantity = _number(product.get("quantity"), 1.0)
                items += quantity
                revenue += _number(product.get("price"), 0.0) * quantity
            credited[ref] = (items, revenue)
        return credited

    # -- state in and out -----------------------------------------------------------------
    def _load(self, conn: Connection, site_id: str, rows: list[Row]) -> SiteState:
        state = SiteState()
        visitors = sorted({r.visitor_id for r in rows if r.visitor_id})
        if not visitors:
            return state
        C = report_clicks
        for part in chunks(visitors):
            stmt = select(C).where(C.c.site_id == site_id, C.c.visitor_id.in_(part))
            for c in conn.execute(stmt):
                state.clicks[(c.visitor_id, c.product_key)] = Click(
                    BlockRef(c.block_id, c.variant_id),
                    int(c.clicked_at),
                    c.session_id,
                    bool(c.carted),
                    bool(c.converted),
                )
        S = report_click_sessions
        pairs = sorted(
            {
                (r.visitor_id, r.session_id or "")
                for r in rows
                if r.visitor_id and r.data.get("location")
            }
        )
        for pair_part in chunks(pairs):
            stmt = select(S).where(
                S.c.site_id == site_id, tuple_(S.c.visitor_id, S.c.session_id).in_(pair_part)
            )
            for s in conn.execute(stmt):
                key = (s.visitor_id, s.session_id, s.container_type)
                state.sessions[key] = (s.last_url, int(s.at))
        return state

    def _write(
        self,
        conn: Connection,
        site_id: str,
        state: SiteState,
        counts: dict[tuple[str, str, str], Counts],
    ) -> None:
        if counts:
            D = report_block_daily
            values = [
                {
                    "site_id": site_id,
                    "day": day,
                    "block_id": block_id,
                    "variant_id": variant_id,
                    **{name: getattr(c, name) for name in COUNTERS},
                }
                for (day, block_id, variant_id), c in sorted(counts.items())
            ]
            stmt = _insert(conn, D)
            stmt = stmt.on_conflict_do_update(
                index_elements=["site_id", "day", "block_id", "variant_id"],
                set_={name: D.c[name] + stmt.excluded[name] for name in COUNTERS},
            )
            for part in chunks(values):
                conn.execute(stmt, list(part))
        if state.dirty_clicks:
            clicks = [
                {
                    "site_id": site_id,
                    "visitor_id": visitor_id,
                    "product_key": product_key,
                    "block_id": c.block.block_id,
                    "variant_id": c.block.variant_id,
                    "clicked_at": c.clicked_at,
                    "session_id": c.session_id,
                    "carted": c.carted,
                    "converted": c.converted,
                }
                for (visitor_id, product_key) in sorted(state.dirty_clicks)
                for c in (state.clicks[(visitor_id, product_key)],)
            ]
            stmt = _insert(conn, report_clicks)
            stmt = stmt.on_conflict_do_update(
                index_elements=["site_id", "visitor_id", "product_key"],
                set_={
                    name: stmt.excluded[name]
                    for name in (
                        "block_id",
                        "variant_id",
                        "clicked_at",
                        "session_id",
                        "carted",
                        "converted",
                    )
                },
            )
            for part in chunks(clicks):
                conn.execute(stmt, list(part))
        if state.dirty_sessions:
            sessions = [
                {
                    "site_id": site_id,
                    "visitor_id": visitor_id,
                    "session_id": session_id,
                    "container_type": container_type,
                    "last_url": state.sessions[key][0],
                    "at": state.sessions[key][1],
                }
                for key in sorted(state.dirty_sessions)
                for (visitor_id, session_id, container_type) in (key,)
            ]
            stmt = _insert(conn, report_click_sessions)
            stmt = stmt.on_conflict_do_update(
                index_elements=["site_id", "visitor_id", "session_id", "container_type"],
                set_={"last_url": stmt.excluded.last_url, "at": stmt.excluded.at},
            )
            for part in chunks(sessions):
                conn.execute(stmt, list(part))


def reset(conn: Connection) -> None:
    """Forget every derived row (the caller moves the cursor back to 0 in the same transaction)."""
    for table in (report_block_daily, report_clicks, report_click_sessions):
        conn.execute(table.delete())
