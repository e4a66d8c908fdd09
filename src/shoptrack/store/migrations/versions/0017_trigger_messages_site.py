"""A site's trigger messages newest first, a page at a time, without sorting all of them.

``/api/v1/messages`` and the dashboard's messages page list a site's messages by
``message_id`` descending; the only indexes starting with ``site_id`` made the store sort every
message of the site for each page (70 ms for 10,000 on SQLite, growing with the site).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_trigger_messages_site", "trigger_messages", ["site_id", "message_id"])


def downgrade() -> None:
    op.drop_index("ix_trigger_messages_site", table_name="trigger_messages")
