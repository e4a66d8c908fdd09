"""The schema, as SQLAlchemy Core tables. Alembic migrations in ``migrations/`` create it.

Every table leads its keys with ``site_id`` so the schema can later be distributed by site.
Times are integer milliseconds since the epoch: identical on SQLite and PostgreSQL, cheap to
compare, and turned into ISO 8601 only at the API's edge.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# SQLite only makes an INTEGER PRIMARY KEY an alias of its rowid (fast, auto-increment).
SeqType = BigInteger().with_variant(Integer(), "sqlite")

sites = Table(
    "sites",
    metadata,
    Column("site_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("settings", Text, nullable=False, server_default="{}"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("site_id", String(64), nullable=False, index=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
)

events = Table(
    "events",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("site_id", String(64), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("type", String(32), nullable=False),
    Column("occurred_at", BigInteger, nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Column("visitor_id", String(128), nullable=True),
    Column("session_id", String(128), nullable=True),
    Column("contact_id", String(64), nullable=True),
    Column("source", String(16), nullable=False),
    Column("cart_guid", String(128), nullable=True),
    Column("data", Text, nullable=False),
    Column("identity_enc", LargeBinary, nullable=True),
    UniqueConstraint("site_id", "event_id", name="uq_events_site_event"),
    Index("ix_events_site_seq", "site_id", "seq"),
    Index("ix_events_site_type_seq", "site_id", "type", "seq"),
    Index("ix_events_site_visitor_seq", "site_id", "visitor_id", "seq"),
    Index("ix_events_site_cart", "site_id", "cart_guid"),
)

rejected_events = Table(
    "rejected_events",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("site_id", String(64), nullable=True),
    Column("event_id", String(128), nullable=True),
    Column("received_at", BigInteger, nullable=False),
    Column("source", String(16), nullable=False),
    Column("endpoint", String(64), nullable=False),
    Column("code", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("field", String(256), nullable=True),
    Column("body_size", Integer, nullable=False),
    Column("body_enc", LargeBinary, nullable=False),
    Index("ix_rejected_site_seq", "site_id", "seq"),
)
