"""Contacts, visitor links, pending identities, merges, the audit log and processor cursors.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("contact_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("external_bidx", sa.String(64), nullable=True),
        sa.Column("email_bidx", sa.String(64), nullable=True),
        sa.Column("phone_bidx", sa.String(64), nullable=True),
        sa.Column("profile_enc", sa.LargeBinary, nullable=True),
        sa.Column("merged_into", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("site_id", "contact_id", name="pk_contacts"),
    )
    op.create_index(
        "uq_contacts_site_external", "contacts", ["site_id", "external_bidx"], unique=True
    )
    op.create_index("uq_contacts_site_email", "contacts", ["site_id", "email_bidx"], unique=True)
    op.create_index("uq_contacts_site_phone", "contacts", ["site_id", "phone_bidx"], unique=True)
    op.create_index("ix_contacts_site_merged", "contacts", ["site_id", "merged_into"])
    op.create_table(
        "contact_visitors",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("visitor_id", sa.String(128), nullable=False),
        sa.Column("contact_id", sa.String(64), nullable=False),
        sa.Column("linked_at", sa.BigInteger, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("site_id", "visitor_id", name="pk_contact_visitors"),
    )
    op.create_index("ix_contact_visitors_contact", "contact_visitors", ["site_id", "contact_id"])
    op.create_table(
        "pending_identities",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("pending_id", sa.String(64), nullable=False),
        sa.Column("visitor_id", sa.String(128), nullable=False),
        sa.Column("external_bidx", sa.String(64), nullable=True),
        sa.Column("email_bidx", sa.String(64), nullable=True),
        sa.Column("phone_bidx", sa.String(64), nullable=True),
        sa.Column("identity_enc", sa.LargeBinary, nullable=False),
        sa.Column("first_seen_at", sa.BigInteger, nullable=False),
        sa.Column("last_seen_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("site_id", "pending_id", name="pk_pending_identities"),
    )
    for kind in ("visitor_id", "external_bidx", "email_bidx", "phone_bidx"):
        op.create_index(f"ix_pending_site_{kind}", "pending_identities", ["site_id", kind])
    op.create_table(
        "contact_merges",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("merge_id", sa.String(64), nullable=False),
        sa.Column("survivor_id", sa.String(64), nullable=False),
        sa.Column("merged_id", sa.String(64), nullable=False),
        sa.Column("matched_on", sa.String(32), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("merged_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("site_id", "merge_id", name="pk_contact_merges"),
    )
    op.create_index("ix_contact_merges_survivor", "contact_merges", ["site_id", "survivor_id"])
    op.create_table(
        "audit_log",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("audit_id", sa.String(64), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(128), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("details", sa.Text, nullable=False, server_default="{}"),
        sa.PrimaryKeyConstraint("site_id", "audit_id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_site_at", "audit_log", ["site_id", "at"])
    op.create_table(
        "processor_cursors",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.BigInteger, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    for table in (
        "processor_cursors",
        "audit_log",
        "contact_merges",
        "pending_identities",
        "contact_visitors",
        "contacts",
    ):
        op.drop_table(table)
