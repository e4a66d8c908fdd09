"""Sites and their API keys, the event log and the events refused on the way in."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from shoptrack.store.tables.base import SeqType, metadata

sites = Table(
    "sites",
    metadata,
    Column("site_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("settings", Text, nullable=False, server_default="{}"),
    # The secret the shop's server signs browser identities with (identity/signing.py).
    Column("identity_secret_enc", LargeBinary, nullable=True),
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
    Column("step", String(32), nullable=True),  # migration 0007: the collector step that refused
    Column("message", Text, nullable=False),
    Column("field", String(256), nullable=True),
    Column("body_size", Integer, nullable=False),
    Column("body_enc", LargeBinary, nullable=False),
    Index("ix_rejected_site_seq", "site_id", "seq"),
    # migration 0015: the dashboard's filters by reason and by step, newest first
    Index("ix_rejected_site_code_seq", "site_id", "code", "seq"),
    Index("ix_rejected_site_step_seq", "site_id", "step", "seq"),
)
