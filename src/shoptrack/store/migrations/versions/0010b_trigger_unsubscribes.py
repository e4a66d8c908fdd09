"""Trigger unsubscribes: a contact that asked for no more trigger messages on a channel.

Delivery's half of issue 14 (the engine's 0010 makes the other trigger tables); both revise
0009 and are folded into one chain when the two halves meet.

Revision ID: 0010b
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010b"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trigger_unsubscribes",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("contact_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("site_id", "contact_id", "channel", name="pk_trigger_unsubscribes"),
    )


def downgrade() -> None:
    op.drop_table("trigger_unsubscribes")
