"""Sites, API keys, the event log and the rejected-events store.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("site_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("settings", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_api_keys_site_id", "api_keys", ["site_id"])
    op.create_table(
        "events",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("occurred_at", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.Column("visitor_id", sa.String(128), nullable=True),
        sa.Column("session_id", sa.String(128), nullable=True),
        sa.Column("contact_id", sa.String(64), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("cart_guid", sa.String(128), nullable=True),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("identity_enc", sa.LargeBinary, nullable=True),
        sa.UniqueConstraint("site_id", "event_id", name="uq_events_site_event"),
    )
    op.create_index("ix_events_site_seq", "events", ["site_id", "seq"])
    op.create_index("ix_events_site_type_seq", "events", ["site_id", "type", "seq"])
    op.create_index("ix_events_site_visitor_seq", "events", ["site_id", "visitor_id", "seq"])
    op.create_index("ix_events_site_cart", "events", ["site_id", "cart_guid"])
    op.create_table(
        "rejected_events",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("site_id", sa.String(64), nullable=True),
        sa.Column("event_id", sa.String(128), nullable=True),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("field", sa.String(256), nullable=True),
        sa.Column("body_size", sa.Integer, nullable=False),
        sa.Column("body_enc", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_rejected_site_seq", "rejected_events", ["site_id", "seq"])


def downgrade() -> None:
    op.drop_table("rejected_events")
    op.drop_table("events")
    op.drop_table("api_keys")
    op.drop_table("sites")
