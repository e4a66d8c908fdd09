"""Recommendations: blocks, weighted variants, block change history, model snapshots, counters.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rec_blocks",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("block_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("page_type", sa.String(16), nullable=False),
        sa.Column("product_count", sa.Integer, nullable=False),
        sa.Column("filters", sa.Text, nullable=False, server_default="{}"),
        sa.Column("selector", sa.Text, nullable=True),
        sa.Column("position", sa.String(16), nullable=False),
        sa.Column("template", sa.Text, nullable=True),
        sa.Column("title", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("placement_id", sa.BigInteger, nullable=True),
        sa.Column("preview_token", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("site_id", "block_id", name="pk_rec_blocks"),
    )
    op.create_table(
        "rec_variants",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("variant_id", sa.Integer, nullable=False),
        sa.Column("block_id", sa.Integer, nullable=False),
        sa.Column("algorithm", sa.String(64), nullable=False),
        sa.Column("params", sa.Text, nullable=False, server_default="{}"),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("site_id", "variant_id", name="pk_rec_variants"),
    )
    op.create_index("ix_rec_variants_block", "rec_variants", ["site_id", "block_id"])
    op.create_table(
        "rec_block_changes",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("block_id", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("details", sa.Text, nullable=False, server_default="{}"),
        sa.PrimaryKeyConstraint("site_id", "block_id", "version", name="pk_rec_block_changes"),
    )
    op.create_table(
        "rec_snapshots",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("snapshot_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("upto_seq", sa.BigInteger, nullable=False),
        sa.Column("events", sa.BigInteger, nullable=False),
        sa.Column("items", sa.Integer, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("site_id", "snapshot_id", name="pk_rec_snapshots"),
    )
    op.create_table(
        "rec_counters",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("snapshot_id", sa.Integer, nullable=False),
        sa.Column("upto_seq", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("site_id", name="pk_rec_counters"),
    )


def downgrade() -> None:
    op.drop_table("rec_counters")
    op.drop_table("rec_snapshots")
    op.drop_table("rec_block_changes")
    op.drop_index("ix_rec_variants_block", table_name="rec_variants")
    op.drop_table("rec_variants")
    op.drop_table("rec_blocks")
