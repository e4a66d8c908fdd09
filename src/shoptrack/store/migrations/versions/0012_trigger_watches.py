"""Catalogue-change triggers: what visitors watch, the watcher's marks, changed-product index.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_catalog_products_event_updated",
        "catalog_products",
        ["site_id", "generation", "updated_at"],
        postgresql_where=sa.text("event_at IS NOT NULL"),
        sqlite_where=sa.text("event_at IS NOT NULL"),
    )
    op.create_table(
        "trigger_watches",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("visitor_id", sa.String(128), nullable=False),
        sa.Column("product_key", sa.String(255), nullable=False),
        sa.Column("seen_price", sa.Float, nullable=True),
        sa.Column("seen_currency", sa.String(8), nullable=True),
        sa.Column("seen_in_stock", sa.Boolean, nullable=True),
        sa.Column("seen_at", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("qualified", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint(
            "site_id", "rule", "visitor_id", "product_key", name="pk_trigger_watches"
        ),
    )
    op.create_index("ix_trigger_watches_product", "trigger_watches", ["site_id", "product_key"])
    op.create_index("ix_trigger_watches_seen", "trigger_watches", ["site_id", "rule", "seen_at"])
    op.create_index("ix_trigger_watches_seq", "trigger_watches", ["site_id", "seq"])
    op.create_table(
        "trigger_catalog_marks",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("mark", sa.BigInteger, nullable=False),
        sa.Column("watch_seq", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("site_id", name="pk_trigger_catalog_marks"),
    )


def downgrade() -> None:
    op.drop_table("trigger_catalog_marks")
    op.drop_index("ix_trigger_watches_seq", table_name="trigger_watches")
    op.drop_index("ix_trigger_watches_seen", table_name="trigger_watches")
    op.drop_index("ix_trigger_watches_product", table_name="trigger_watches")
    op.drop_table("trigger_watches")
    op.drop_index("ix_catalog_products_event_updated", table_name="catalog_products")
