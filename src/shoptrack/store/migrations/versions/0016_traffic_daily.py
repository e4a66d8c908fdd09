"""The dashboard's traffic counts: per day, type and bot/human; visitors; types; pages.

The ``analytics`` processor is new: its cursor starts at 0, so the worker reads the existing
log once after this migration and the Overview and Charts pages show its whole history.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "traffic_daily",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("bot", sa.Boolean, nullable=False),
        sa.Column("events", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("revenue", sa.Float, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("site_id", "day", "type", "bot", name="pk_traffic_daily"),
    )
    op.create_table(
        "traffic_visitors",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("bot", sa.Boolean, nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("visitor_id", sa.String(128), nullable=False),
        sa.Column("viewed", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("carted", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("bought", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("prev_day", sa.String(10), nullable=True),
        sa.Column("prev_viewed", sa.String(10), nullable=True),
        sa.Column("prev_carted", sa.String(10), nullable=True),
        sa.Column("prev_bought", sa.String(10), nullable=True),
        sa.PrimaryKeyConstraint("site_id", "bot", "day", "visitor_id", name="pk_traffic_visitors"),
    )
    op.create_index(
        "ix_traffic_visitors_visitor", "traffic_visitors", ["site_id", "bot", "visitor_id"]
    )
    op.create_table(
        "traffic_types",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("first_seen", sa.BigInteger, nullable=False),
        sa.Column("last_seen", sa.BigInteger, nullable=False),
        sa.Column("events", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("site_id", "type", "source", name="pk_traffic_types"),
    )
    op.create_table(
        "traffic_pages",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("bot", sa.Boolean, nullable=False),
        sa.Column("url_hash", sa.String(40), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("last_seen", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("site_id", "bot", "url_hash", name="pk_traffic_pages"),
    )
    op.create_index("ix_traffic_pages_seen", "traffic_pages", ["site_id", "bot", "last_seen"])


def downgrade() -> None:
    op.drop_index("ix_traffic_pages_seen", table_name="traffic_pages")
    op.drop_table("traffic_pages")
    op.drop_table("traffic_types")
    op.drop_index("ix_traffic_visitors_visitor", table_name="traffic_visitors")
    op.drop_table("traffic_visitors")
    op.drop_table("traffic_daily")
