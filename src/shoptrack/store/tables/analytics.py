"""The dashboard's pre-computed traffic (migration 0016): daily counts, visitors, types, pages.

The ``analytics`` processor (``analytics/processor.py``) folds every stored event into these
rows, so the Overview and Charts pages never scan ``events``. ``bot`` keeps bot traffic
(``events.traffic``) apart: figures read ``bot = false`` and show the rest beside them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from shoptrack.store.tables.base import metadata

# Per site, UTC day (of ``occurred_at``), event type and bot/human: events, and the orders'
# value (price × quantity of a ``PurchasedItems``' lines; 0 for every other type).
traffic_daily = Table(
    "traffic_daily",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("day", String(10), nullable=False),  # YYYY-MM-DD (UTC)
    Column("type", String(32), nullable=False),
    Column("bot", Boolean, nullable=False),
    Column("events", BigInteger, nullable=False, server_default="0"),
    Column("revenue", Float, nullable=False, server_default="0"),
    PrimaryKeyConstraint("site_id", "day", "type", "bot", name="pk_traffic_daily"),
)

# One row per visitor and UTC day they sent anything, with the funnel steps they took that
# day, and for each (any event, viewed, carted, bought) the visitor's previous day with it. A
# period's distinct visitors are then the rows of its days whose previous day falls before
# it: one range scan, no GROUP BY over visitor ids (``analytics.queries.funnel``).
traffic_visitors = Table(
    "traffic_visitors",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("bot", Boolean, nullable=False),
    Column("day", String(10), nullable=False),
    Column("visitor_id", String(128), nullable=False),
    Column("viewed", Boolean, nullable=False, server_default="0"),  # a ProductPage
    Column("carted", Boolean, nullable=False, server_default="0"),  # a StatusCart with lines
    Column("bought", Boolean, nullable=False, server_default="0"),  # a PurchasedItems
    Column("prev_day", String(10), nullable=True),
    Column("prev_viewed", String(10), nullable=True),
    Column("prev_carted", String(10), nullable=True),
    Column("prev_bought", String(10), nullable=True),
    PrimaryKeyConstraint("site_id", "bot", "day", "visitor_id", name="pk_traffic_visitors"),
    Index("ix_traffic_visitors_visitor", "site_id", "bot", "visitor_id"),
)

# Per site, event type and source (browser / rest): when it first and last arrived
# (``received_at``: the server's clock, not the client's) and how many did, bots included.
traffic_types = Table(
    "traffic_types",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("type", String(32), nullable=False),
    Column("source", String(16), nullable=False),
    Column("first_seen", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    Column("events", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("site_id", "type", "source", name="pk_traffic_types"),
)

# The last few distinct page addresses (as stored: scrubbed) events came from, per site and
# bot/human; the processor keeps only the newest ``analytics.processor.PAGES_KEPT``.
traffic_pages = Table(
    "traffic_pages",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("bot", Boolean, nullable=False),
    # Keyed by a digest: an address may be longer than an index entry may be (PostgreSQL).
    Column("url_hash", String(40), nullable=False),
    Column("url", Text, nullable=False),
    Column("type", String(32), nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    PrimaryKeyConstraint("site_id", "bot", "url_hash", name="pk_traffic_pages"),
    Index("ix_traffic_pages_seen", "site_id", "bot", "last_seen"),
)
