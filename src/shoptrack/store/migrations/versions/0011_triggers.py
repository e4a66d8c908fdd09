"""Triggers: rules per site, open episodes, decided messages, their attempts, unsubscribes.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trigger_rules",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("delay_s", sa.Integer, nullable=False),
        sa.Column("cap_days", sa.Integer, nullable=False),
        sa.Column("webhook_url", sa.Text, nullable=True),
        sa.Column("template", sa.Text, nullable=True),
        sa.Column("thresholds", sa.Text, nullable=False, server_default="{}"),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("site_id", "rule", name="pk_trigger_rules"),
    )
    op.create_table(
        "trigger_candidates",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("visitor_id", sa.String(128), nullable=False),
        sa.Column("episode_key", sa.String(160), nullable=False),
        sa.Column("due_at", sa.BigInteger, nullable=False),
        sa.Column("first_seq", sa.BigInteger, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("site_id", "rule", "visitor_id", name="pk_trigger_candidates"),
    )
    op.create_index("ix_trigger_candidates_due", "trigger_candidates", ["state", "due_at"])
    op.create_index(
        "ix_trigger_candidates_episode", "trigger_candidates", ["site_id", "rule", "episode_key"]
    )
    op.create_table(
        "trigger_messages",
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("contact_id", sa.String(64), nullable=False),
        sa.Column("episode_key", sa.String(160), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_at", sa.BigInteger, nullable=False),
        sa.Column("decided_at", sa.BigInteger, nullable=False),
        sa.Column("sent_at", sa.BigInteger, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("content", sa.Text, nullable=False, server_default="{}"),
        sa.Column("reason", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("message_id"),
        sa.UniqueConstraint(
            "site_id", "rule", "contact_id", "episode_key", name="uq_trigger_messages"
        ),
    )
    op.create_index(
        "ix_trigger_messages_contact", "trigger_messages", ["site_id", "contact_id", "decided_at"]
    )
    op.create_index("ix_trigger_messages_status", "trigger_messages", ["status", "next_attempt_at"])
    op.create_table(
        "trigger_attempts",
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("finished_at", sa.BigInteger, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("message_id", "attempt", name="pk_trigger_attempts"),
    )
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
    op.drop_table("trigger_attempts")
    op.drop_index("ix_trigger_messages_status", table_name="trigger_messages")
    op.drop_index("ix_trigger_messages_contact", table_name="trigger_messages")
    op.drop_table("trigger_messages")
    op.drop_index("ix_trigger_candidates_episode", table_name="trigger_candidates")
    op.drop_index("ix_trigger_candidates_due", table_name="trigger_candidates")
    op.drop_table("trigger_candidates")
    op.drop_table("trigger_rules")
