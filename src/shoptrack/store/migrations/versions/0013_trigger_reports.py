"""Trigger reports: clicks, orders and revenue per rule and day; sent messages by day.

The ``trigger_reports`` processor is new: its cursor starts at 0, so it reads the existing
log once (clicks of messages sent before this migration are counted too).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_trigger_messages_sent", "trigger_messages", ["site_id", "sent_at"])
    op.create_table(
        "trigger_report_daily",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("clicked", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("orders", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("revenue", sa.Float, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("site_id", "day", "rule", name="pk_trigger_report_daily"),
    )
    op.create_table(
        "trigger_report_messages",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("clicked_at", sa.BigInteger, nullable=False),
        sa.Column("converted_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("site_id", "message_id", name="pk_trigger_report_messages"),
    )
    op.create_table(
        "trigger_report_visits",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(8), nullable=False),
        sa.Column("subject_id", sa.String(128), nullable=False),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("clicked_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "site_id", "subject", "subject_id", name="pk_trigger_report_visits"
        ),
    )


def downgrade() -> None:
    op.drop_table("trigger_report_visits")
    op.drop_table("trigger_report_messages")
    op.drop_table("trigger_report_daily")
    op.drop_index("ix_trigger_messages_sent", table_name="trigger_messages")
