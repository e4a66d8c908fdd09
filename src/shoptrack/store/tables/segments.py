"""Segments (migration 0018): audiences defined over the tracked events, their members, the
changes of membership and the count history; and the facts the conditions are evaluated on.

``segment_facts`` holds one row per event and product line the conditions can ask about
(views, carts, orders, wishlist, searches, category views), written by the ``segments``
processor: small, indexed by who and when, so a segment is one SQL query over it instead of a
scan of the event log's JSON. A person is a contact (``contact_id``) or, until linked, a
visitor (``~`` + visitor id); ``segment_facts`` keeps the visitor and resolves the contact at
evaluation time, so a visitor linked later counts for their contact at once.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from shoptrack.store.tables.base import SeqType, metadata

segments = Table(
    "segments",
    metadata,
    Column("segment_id", SeqType, primary_key=True, autoincrement=True),
    Column("site_id", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("definition", Text, nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # active | deleted
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("refreshed_at", BigInteger, nullable=True),
    Column("members", BigInteger, nullable=False, server_default="0"),
    # Entries and exits posted to the shop's tool (Standard Webhooks, the site's secret):
    # changes up to ``webhook_cursor`` (a change_id) are delivered; a failed post is tried
    # again at ``webhook_retry_at``, backing off.
    Column("webhook_url", Text, nullable=True),
    Column("webhook_cursor", BigInteger, nullable=False, server_default="0"),
    Column("webhook_attempts", Integer, nullable=False, server_default="0"),
    Column("webhook_retry_at", BigInteger, nullable=True),
    Column("webhook_error", Text, nullable=True),
    Index("ix_segments_site", "site_id", "segment_id"),
)

segment_members = Table(
    "segment_members",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("segment_id", BigInteger, nullable=False),
    Column("person", String(160), nullable=False),
    Column("entered_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("site_id", "segment_id", "person", name="pk_segment_members"),
    Index("ix_segment_members_person", "site_id", "person"),
)

segment_changes = Table(
    "segment_changes",
    metadata,
    Column("change_id", SeqType, primary_key=True, autoincrement=True),
    Column("site_id", String(64), nullable=False),
    Column("segment_id", BigInteger, nullable=False),
    Column("person", String(160), nullable=False),
    Column("change", String(8), nullable=False),  # entered | left
    Column("at", BigInteger, nullable=False),
    Index("ix_segment_changes_segment", "site_id", "segment_id", "change_id"),
    Index("ix_segment_changes_person", "site_id", "person"),
)

segment_counts = Table(
    "segment_counts",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("segment_id", BigInteger, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("members", BigInteger, nullable=False),
    PrimaryKeyConstraint("site_id", "segment_id", "at", name="pk_segment_counts"),
)

segment_facts = Table(
    "segment_facts",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("line", Integer, nullable=False),
    Column("visitor_id", String(128), nullable=True),
    Column("contact_id", String(64), nullable=True),
    Column("kind", String(16), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("product_key", String(255), nullable=True),
    Column("price", Float, nullable=True),
    Column("in_stock", Boolean, nullable=True),
    Column("amount", Float, nullable=True),
    Column("order_key", String(160), nullable=True),
    Column("category_key", String(255), nullable=True),
    PrimaryKeyConstraint("site_id", "seq", "line", name="pk_segment_facts"),
    Index("ix_segment_facts_visitor", "site_id", "visitor_id", "kind", "at"),
    Index("ix_segment_facts_kind", "site_id", "kind", "at"),
    Index("ix_segment_facts_contact", "site_id", "contact_id"),
)
