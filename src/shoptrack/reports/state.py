"""The reports processor's state: what it reads before a batch and writes after it.

* ``report_clicks``: per visitor and product, the last block the visitor reached it from (a
  click in the block, or an add-to-cart from it), and whether that was already counted as an
  add-to-cart / converted into a purchase;
* ``report_click_sessions``: per visitor session, the blocks (``sc_content`` values) it came
  through, with the last landing URL (clicks count once per landing);
* ``report_block_daily``: the counts, added to per batch.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import Connection, select, tuple_

from shoptrack.reports.ids import BlockRef, parse_container
from shoptrack.store.sql import add_counts, chunks, insert_for
from shoptrack.store.tables import report_block_daily, report_click_sessions, report_clicks

COUNTERS = (
    "impressions",
    "product_impressions",
    "clicks",
    "add_to_carts",
    "purchases",
    "items",
    "revenue",
    "assisted_purchases",
    "assisted_revenue",
)
_CHUNK = 400
T = TypeVar("T")
VisitorSession = tuple[str, str]


@dataclass
class Counts:
    impressions: int = 0
    product_impressions: int = 0
    clicks: int = 0
    add_to_carts: int = 0
    purchases: int = 0
    items: float = 0.0
    revenue: float = 0.0
    assisted_purchases: int = 0
    assisted_revenue: float = 0.0


@dataclass
class Click:
    block: BlockRef
    clicked_at: int
    session_id: str | None
    carted: bool = False
    converted: bool = False


@dataclass
class AttributionState:
    """One site's attribution state for the visitors of a batch, loaded once, written once."""

    clicks: dict[tuple[str, str], Click] = field(default_factory=dict)
    # (visitor, session, sc_content) → (last landing URL, time)
    sessions: dict[tuple[str, str, str], tuple[str | None, int]] = field(default_factory=dict)
    # (visitor, session) → the blocks of its sc_content values: the "assisted" attribution
    session_blocks: dict[VisitorSession, set[BlockRef]] = field(
        default_factory=lambda: defaultdict(set)
    )
    dirty_clicks: set[tuple[str, str]] = field(default_factory=set)
    dirty_sessions: set[tuple[str, str, str]] = field(default_factory=set)

    def enter_session(self, key: tuple[str, str, str], url: str | None, at: int) -> None:
        self.sessions[key] = (url, at)
        self.dirty_sessions.add(key)
        self.note_block(key)

    def note_block(self, key: tuple[str, str, str]) -> None:
        ref = parse_container(key[2])
        if ref is not None:
            self.session_blocks[(key[0], key[1])].add(ref)


def load(
    conn: Connection, site_id: str, visitors: list[str], sessions: list[VisitorSession]
) -> AttributionState:
    """The state of these visitors' clicks and of these visitor sessions."""
    state = AttributionState()
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
    for pair_part in chunks(sessions):
        stmt = select(S).where(
            S.c.site_id == site_id, tuple_(S.c.visitor_id, S.c.session_id).in_(pair_part)
        )
        for s in conn.execute(stmt):
            key = (s.visitor_id, s.session_id, s.container_type)
            state.sessions[key] = (s.last_url, int(s.at))
            state.note_block(key)
    return state


def write(
    conn: Connection,
    site_id: str,
    state: AttributionState,
    counts: dict[tuple[str, str, str], Counts],
) -> None:
    if counts:
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
        keys = ["site_id", "day", "block_id", "variant_id"]
        add_counts(conn, report_block_daily, keys, COUNTERS, values)
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
        stmt = insert_for(conn, report_clicks)
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
        stmt = insert_for(conn, report_click_sessions)
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
