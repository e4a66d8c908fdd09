"""Browser reports of product price and stock: what each visitor last saw, for the quorum.

A browser event may change a known product's price or stock only when enough distinct
visitors agree (``catalog/quorum.py``); this table keeps each visitor's latest report per
product and field, so agreement is one indexed count.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_browser_reports",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("product_key", sa.String(255), nullable=False),
        sa.Column("field", sa.String(8), nullable=False),
        sa.Column("visitor_id", sa.String(128), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "site_id", "product_key", "field", "visitor_id", name="pk_catalog_browser_reports"
        ),
    )
    op.create_index(
        "ix_catalog_browser_reports_value",
        "catalog_browser_reports",
        ["site_id", "product_key", "field", "value", "at"],
    )
    op.create_index("ix_catalog_browser_reports_at", "catalog_browser_reports", ["site_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_catalog_browser_reports_at", table_name="catalog_browser_reports")
    op.drop_index("ix_catalog_browser_reports_value", table_name="catalog_browser_reports")
    op.drop_table("catalog_browser_reports")
