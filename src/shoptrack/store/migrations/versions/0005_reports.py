"""Recommendation reports: daily aggregates per block and variant, and attribution state.

Everything here is derived from the event log by the reports processor and can be rebuilt
(``shoptrack reports rebuild``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_block_daily",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("block_id", sa.String(64), nullable=False),
        sa.Column("variant_id", sa.String(64), nullable=False),
        sa.Column("impressions", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("product_impressions", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("clicks", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("add_to_carts", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("purchases", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("items", sa.Float, nullable=False, server_default="0"),
        sa.Column("revenue", sa.Float, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint(
            "site_id", "day", "block_id", "variant_id", name="pk_report_block_daily"
        ),
    )
    op.create_table(
        "report_clicks",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("visitor_id", sa.String(128), nullable=False),
        sa.Column("product_key", sa.String(255), nullable=False),
        sa.Column("block_id", sa.String(64), nullable=False),
        sa.Column("variant_id", sa.String(64), nullable=False),
        sa.Column("clicked_at", sa.BigInteger, nullable=False),
        sa.Column("session_id", sa.String(128), nullable=True),
        sa.Column("carted", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("converted", sa.Boolean, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("site_id", "visitor_id", "product_key", name="pk_report_clicks"),
    )
    op.create_table(
        "report_click_sessions",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("visitor_id", sa.String(128), nullable=False),
        sa.Column("session_id", sa.String(128), nullable=False),
        sa.Column("container_type", sa.String(128), nullable=False),
        sa.Column("last_url", sa.Text, nullable=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "site_id",
            "visitor_id",
            "session_id",
            "container_type",
            name="pk_report_click_sessions",
        ),
    )


def downgrade() -> None:
    for table in ("report_click_sessions", "report_clicks", "report_block_daily"):
        op.drop_table(table)
