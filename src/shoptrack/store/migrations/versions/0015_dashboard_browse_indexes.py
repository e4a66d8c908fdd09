"""Indexes for the dashboard's lists: newest contacts first; refused events by code or step.

The event log needs none: its filters (type, visitor, a contact's visitors) already have
``(site_id, type, seq)`` and ``(site_id, visitor_id, seq)``. Contacts had no order but their
id; refused events only ``(site_id, seq)``, so a filter on a rare reason would read every
refusal of the site.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_contacts_site_created", "contacts", ["site_id", "created_at", "contact_id"])
    op.create_index("ix_rejected_site_code_seq", "rejected_events", ["site_id", "code", "seq"])
    op.create_index("ix_rejected_site_step_seq", "rejected_events", ["site_id", "step", "seq"])


def downgrade() -> None:
    op.drop_index("ix_rejected_site_step_seq", table_name="rejected_events")
    op.drop_index("ix_rejected_site_code_seq", table_name="rejected_events")
    op.drop_index("ix_contacts_site_created", table_name="contacts")
