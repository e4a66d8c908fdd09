"""Contact fields as segment conditions: one keyed blind index per contact and field (the
city, custom fields), so an equality condition is a SQL lookup and the store holds no
plaintext. Rows are written with the contact (``identity/field_index.py``); contacts written
before this revision get theirs from ``shoptrack contacts reindex``, which needs the index key
and so cannot run here. ``ix_contacts_site_updated`` lets the worker find contacts changed
since its last look.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contact_field_index",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("contact_id", sa.String(64), nullable=False),
        sa.Column("field", sa.String(128), nullable=False),
        sa.Column("value_bidx", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "contact_id", "field", name="pk_contact_field_index"),
    )
    op.create_index(
        "ix_contact_field_index_value",
        "contact_field_index",
        ["site_id", "field", "value_bidx"],
    )
    op.create_index("ix_contacts_site_updated", "contacts", ["site_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_contacts_site_updated", table_name="contacts")
    op.drop_index("ix_contact_field_index_value", table_name="contact_field_index")
    op.drop_table("contact_field_index")
