"""Identity (migration 0002): contacts and what links visitors to them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
)

from shoptrack.store.tables.base import metadata

# Personal fields live only in ``profile_enc`` / ``identity_enc`` (AES-GCM, identity/crypto.py);
# lookups go through the ``*_bidx`` blind indexes. A merged contact keeps a row without personal
# data whose ``merged_into`` names the survivor.
contacts = Table(
    "contacts",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("contact_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("source", String(16), nullable=False),
    Column("external_bidx", String(64), nullable=True),
    Column("email_bidx", String(64), nullable=True),
    Column("phone_bidx", String(64), nullable=True),
    Column("profile_enc", LargeBinary, nullable=True),
    Column("merged_into", String(64), nullable=True),
    PrimaryKeyConstraint("site_id", "contact_id", name="pk_contacts"),
    Index("uq_contacts_site_external", "site_id", "external_bidx", unique=True),
    Index("uq_contacts_site_email", "site_id", "email_bidx", unique=True),
    Index("uq_contacts_site_phone", "site_id", "phone_bidx", unique=True),
    Index("ix_contacts_site_merged", "site_id", "merged_into"),
    # migration 0015: the dashboard's newest contacts first, a keyset page at a time
    Index("ix_contacts_site_created", "site_id", "created_at", "contact_id"),
    # migration 0019: the worker's "contacts changed since" look for segment membership
    Index("ix_contacts_site_updated", "site_id", "updated_at"),
)

# Migration 0019: a keyed blind index per live contact and field (``city``, ``fields.<name>``)
# for segment conditions on contact fields (identity/field_index.py). ``field`` is the field's
# name, never its value; ``value_bidx`` is HMAC-SHA256 of the normalised value.
contact_field_index = Table(
    "contact_field_index",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("contact_id", String(64), nullable=False),
    Column("field", String(128), nullable=False),
    Column("value_bidx", String(64), nullable=False),
    PrimaryKeyConstraint("site_id", "contact_id", "field", name="pk_contact_field_index"),
    Index("ix_contact_field_index_value", "site_id", "field", "value_bidx"),
)

contact_visitors = Table(
    "contact_visitors",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("visitor_id", String(128), nullable=False),
    Column("contact_id", String(64), nullable=False),
    Column("linked_at", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=True),
    PrimaryKeyConstraint("site_id", "visitor_id", name="pk_contact_visitors"),
    Index("ix_contact_visitors_contact", "site_id", "contact_id"),
)

pending_identities = Table(
    "pending_identities",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("pending_id", String(64), nullable=False),
    Column("visitor_id", String(128), nullable=False),
    Column("external_bidx", String(64), nullable=True),
    Column("email_bidx", String(64), nullable=True),
    Column("phone_bidx", String(64), nullable=True),
    Column("identity_enc", LargeBinary, nullable=False),
    Column("first_seen_at", BigInteger, nullable=False),
    Column("last_seen_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("site_id", "pending_id", name="pk_pending_identities"),
    Index("ix_pending_site_visitor_id", "site_id", "visitor_id"),
    Index("ix_pending_site_external_bidx", "site_id", "external_bidx"),
    Index("ix_pending_site_email_bidx", "site_id", "email_bidx"),
    Index("ix_pending_site_phone_bidx", "site_id", "phone_bidx"),
)

contact_merges = Table(
    "contact_merges",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("merge_id", String(64), nullable=False),
    Column("survivor_id", String(64), nullable=False),
    Column("merged_id", String(64), nullable=False),
    Column("matched_on", String(32), nullable=False),
    Column("source", String(16), nullable=False),
    Column("merged_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("site_id", "merge_id", name="pk_contact_merges"),
    Index("ix_contact_merges_survivor", "site_id", "survivor_id"),
)
