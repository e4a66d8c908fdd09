"""Block reports: direct attribution, with the session-level figure kept apart as "assisted".

``revenue``/``items``/``purchases`` now hold only the products that came from the block;
``assisted_purchases``/``assisted_revenue`` hold the orders the block took part in, whole.
The rows written before this revision used the older, session-level rule under the direct
names, so the derived report state is emptied and the ``reports`` cursor moved back to the
start: the worker replays the log with the new rule, as ``shoptrack reports rebuild`` does.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN with a constant default: no table rebuild on either database.
    op.add_column(
        "report_block_daily",
        sa.Column("assisted_purchases", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.add_column(
        "report_block_daily",
        sa.Column("assisted_revenue", sa.Float, nullable=False, server_default="0"),
    )
    for table in ("report_block_daily", "report_clicks", "report_click_sessions"):
        op.execute(sa.text(f"DELETE FROM {table}"))
    op.execute(sa.text("UPDATE processor_cursors SET position = 0 WHERE name = 'reports'"))
    # The replay from 0 covers them: a retry on top would count those events twice.
    op.execute(sa.text("DELETE FROM processor_failures WHERE processor = 'reports'"))


def downgrade() -> None:
    with op.batch_alter_table("report_block_daily") as batch:
        batch.drop_column("assisted_revenue")
        batch.drop_column("assisted_purchases")
