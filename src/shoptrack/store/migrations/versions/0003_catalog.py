"""The product catalogue: feeds, import reports, products by generation, categories, history.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_feeds",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("feed_id", sa.String(32), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("schedule", sa.String(64), nullable=True),
        sa.Column("next_run_at", sa.BigInteger, nullable=True),
        sa.Column("etag", sa.Text, nullable=True),
        sa.Column("last_modified", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_import_id", sa.String(32), nullable=True),
        sa.Column("last_status", sa.String(16), nullable=True),
        sa.Column("last_import_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("site_id", "feed_id", name="pk_catalog_feeds"),
    )
    op.create_table(
        "catalog_imports",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("import_id", sa.String(32), nullable=False),
        sa.Column("feed_id", sa.String(32), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("finished_at", sa.BigInteger, nullable=True),
        sa.Column("generation", sa.Integer, nullable=True),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("error_message", sa.Text, nullable=True),
        sa.Column("report", sa.Text, nullable=False, server_default="{}"),
        sa.PrimaryKeyConstraint("site_id", "import_id", name="pk_catalog_imports"),
    )
    op.create_index(
        "ix_catalog_imports_feed", "catalog_imports", ["site_id", "feed_id", "started_at"]
    )
    op.create_table(
        "catalog_state",
        sa.Column("site_id", sa.String(64), primary_key=True),
        sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_generation", sa.Integer, nullable=False, server_default="1"),
        sa.Column("pending_generation", sa.Integer, nullable=True),
        sa.Column("retired_generation", sa.Integer, nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.BigInteger, nullable=True),
        sa.Column("updated_at", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "catalog_products",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("product_key", sa.String(255), nullable=False),
        sa.Column("feed_id", sa.String(32), nullable=True),
        sa.Column("title", sa.Text, nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("link", sa.Text, nullable=True),
        sa.Column("image_link", sa.Text, nullable=True),
        sa.Column("brand", sa.Text, nullable=True),
        sa.Column("availability", sa.String(32), nullable=True),
        sa.Column("item_group_id", sa.String(255), nullable=True),
        sa.Column("is_new", sa.Boolean, nullable=True),
        sa.Column("currency", sa.String(8), nullable=True),
        sa.Column("regular_price", sa.Float, nullable=True),
        sa.Column("sale_price", sa.Float, nullable=True),
        sa.Column("feed_price", sa.Float, nullable=True),
        sa.Column("feed_in_stock", sa.Boolean, nullable=True),
        sa.Column("price", sa.Float, nullable=True),
        sa.Column("in_stock", sa.Boolean, nullable=True),
        sa.Column("price_source", sa.String(16), nullable=False),
        sa.Column("price_at", sa.BigInteger, nullable=False),
        sa.Column("stock_source", sa.String(16), nullable=False),
        sa.Column("stock_at", sa.BigInteger, nullable=False),
        sa.Column("details_source", sa.String(16), nullable=False),
        sa.Column("details_at", sa.BigInteger, nullable=False),
        sa.Column("event_at", sa.BigInteger, nullable=True),
        sa.Column("categories", sa.Text, nullable=False, server_default="[]"),
        sa.Column("attributes", sa.Text, nullable=False, server_default="{}"),
        sa.Column("search_text", sa.Text, nullable=False, server_default=""),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("site_id", "generation", "product_key", name="pk_catalog_products"),
    )
    op.create_index(
        "ix_catalog_products_feed", "catalog_products", ["site_id", "generation", "feed_id"]
    )
    op.create_index(
        "ix_catalog_products_event",
        "catalog_products",
        ["site_id", "generation", "product_key"],
        postgresql_where=sa.text("event_at IS NOT NULL"),
        sqlite_where=sa.text("event_at IS NOT NULL"),
    )
    op.create_table(
        "catalog_product_categories",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("category_id", sa.BigInteger, nullable=False),
        sa.Column("product_key", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint(
            "site_id",
            "generation",
            "category_id",
            "product_key",
            name="pk_catalog_product_categories",
        ),
    )
    op.create_table(
        "catalog_categories",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("category_id", sa.BigInteger, nullable=False),
        sa.Column("parent_id", sa.BigInteger, nullable=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("depth", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("site_id", "category_id", name="pk_catalog_categories"),
    )
    op.create_table(
        "catalog_history",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("product_key", sa.String(255), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("price", sa.Float, nullable=True),
        sa.Column("old_price", sa.Float, nullable=True),
        sa.Column("currency", sa.String(8), nullable=True),
        sa.Column("in_stock", sa.Boolean, nullable=True),
        sa.Column("old_in_stock", sa.Boolean, nullable=True),
        sa.Column("ref", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint(
            "site_id", "product_key", "at", "source", name="pk_catalog_history"
        ),
    )


def downgrade() -> None:
    for table in (
        "catalog_history",
        "catalog_categories",
        "catalog_product_categories",
        "catalog_products",
        "catalog_state",
        "catalog_imports",
        "catalog_feeds",
    ):
        op.drop_table(table)
