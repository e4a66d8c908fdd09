"""Segments: definitions, members, membership changes, count history, and the facts they are
evaluated on (one row per relevant event and product line, written by the ``segments``
processor, whose cursor starts at 0: it reads the existing log once).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("segment_id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("refreshed_at", sa.BigInteger, nullable=True),
        sa.Column("members", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("webhook_url", sa.Text, nullable=True),
        sa.Column("webhook_cursor", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("webhook_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("webhook_retry_at", sa.BigInteger, nullable=True),
        sa.Column("webhook_error", sa.Text, nullable=True),
    )
    op.create_index("ix_segments_site", "segments", ["site_id", "segment_id"])
    op.create_table(
        "segment_members",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("segment_id", sa.BigInteger, nullable=False),
        sa.Column("person", sa.String(160), nullable=False),
        sa.Column("entered_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("site_id", "segment_id", "person", name="pk_segment_members"),
    )
    op.create_index("ix_segment_members_person", "segment_members", ["site_id", "person"])
    op.create_table(
        "segment_changes",
        sa.Column("change_id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("segment_id", sa.BigInteger, nullable=False),
        sa.Column("person", sa.String(160), nullable=False),
        sa.Column("change", sa.String(8), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "ix_segment_changes_segment", "segment_changes", ["site_id", "segment_id", "change_id"]
    )
    op.create_index("ix_segment_changes_person", "segment_changes", ["site_id", "person"])
    op.create_table(
        "segment_counts",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("segment_id", sa.BigInteger, nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("members", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("site_id", "segment_id", "at", name="pk_segment_counts"),
    )
    op.create_table(
        "segment_facts",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("visitor_id", sa.String(128), nullable=True),
        sa.Column("contact_id", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("product_key", sa.String(255), nullable=True),
        sa.Column("price", sa.Float, nullable=True),
        sa.Column("in_stock", sa.Boolean, nullable=True),
        sa.Column("amount", sa.Float, nullable=True),
        sa.Column("order_key", sa.String(160), nullable=True),
        sa.Column("category_key", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("site_id", "seq", "line", name="pk_segment_facts"),
    )
    op.create_index(
        "ix_segment_facts_visitor", "segment_facts", ["site_id", "visitor_id", "kind", "at"]
    )
    op.create_index("ix_segment_facts_kind", "segment_facts", ["site_id", "kind", "at"])
    op.create_index("ix_segment_facts_contact", "segment_facts", ["site_id", "contact_id"])
    with op.batch_alter_table("trigger_rules") as batch:
        batch.add_column(sa.Column("segment_id", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trigger_rules") as batch:
        batch.drop_column("segment_id")
    for table in ("segment_facts", "segment_counts", "segment_changes", "segment_members"):
        op.drop_table(table)
    op.drop_table("segments")
