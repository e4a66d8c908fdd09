"""Processor failures: events a processor could not handle, retried, skipped, replayed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "processor_failures",
        sa.Column("failure_id", _ID, primary_key=True, autoincrement=True),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("processor", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("first_failed_at", sa.BigInteger, nullable=False),
        sa.Column("last_failed_at", sa.BigInteger, nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=True),
        sa.Column("resolved_at", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("processor", "seq", name="uq_processor_failures_event"),
    )
    op.create_index("ix_processor_failures_site", "processor_failures", ["site_id", "failure_id"])
    op.create_index(
        "ix_processor_failures_due",
        "processor_failures",
        ["processor", "status", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_table("processor_failures")
