"""The catalogue (migration 0003 on): feeds, imports, products, categories, history."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)

from shoptrack.store.tables.base import metadata

# --- catalogue (migration 0003): feeds, imports, products by generation, categories, history --
# An import writes a new generation of a site's products beside the live one and switches
# ``catalog_state.generation`` in one short transaction, so readers never see a half import.
catalog_feeds = Table(
    "catalog_feeds",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("feed_id", String(32), nullable=False),
    Column("url", Text, nullable=False),
    Column("schedule", String(64), nullable=True),
    Column("next_run_at", BigInteger, nullable=True),
    Column("etag", Text, nullable=True),
    Column("last_modified", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("last_import_id", String(32), nullable=True),
    Column("last_status", String(16), nullable=True),
    Column("last_import_at", BigInteger, nullable=True),
    PrimaryKeyConstraint("site_id", "feed_id", name="pk_catalog_feeds"),
)

catalog_imports = Table(
    "catalog_imports",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("import_id", String(32), nullable=False),
    Column("feed_id", String(32), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger, nullable=True),
    Column("generation", Integer, nullable=True),
    Column("error_code", String(32), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("report", Text, nullable=False, server_default="{}"),
    PrimaryKeyConstraint("site_id", "import_id", name="pk_catalog_imports"),
    Index("ix_catalog_imports_feed", "site_id", "feed_id", "started_at"),
)

catalog_state = Table(
    "catalog_state",
    metadata,
    Column("site_id", String(64), primary_key=True),
    Column("generation", Integer, nullable=False, server_default="0"),
    Column("next_generation", Integer, nullable=False, server_default="1"),
    Column("pending_generation", Integer, nullable=True),
    Column("retired_generation", Integer, nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", BigInteger, nullable=True),
    Column("updated_at", BigInteger, nullable=False, server_default="0"),
)

catalog_products = Table(
    "catalog_products",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("product_key", String(255), nullable=False),
    Column("feed_id", String(32), nullable=True),
    Column("title", Text, nullable=True),
    Column("description", Text, nullable=True),
    Column("link", Text, nullable=True),
    Column("image_link", Text, nullable=True),
    Column("brand", Text, nullable=True),
    Column("availability", String(32), nullable=True),
    Column("item_group_id", String(255), nullable=True),
    Column("is_new", Boolean, nullable=True),
    Column("currency", String(8), nullable=True),
    Column("regular_price", Float, nullable=True),
    Column("sale_price", Float, nullable=True),
    Column("feed_price", Float, nullable=True),
    Column("feed_in_stock", Boolean, nullable=True),
    Column("price", Float, nullable=True),
    Column("in_stock", Boolean, nullable=True),
    Column("price_source", String(16), nullable=False),
    Column("price_at", BigInteger, nullable=False),
    Column("stock_source", String(16), nullable=False),
    Column("stock_at", BigInteger, nullable=False),
    Column("details_source", String(16), nullable=False),
    Column("details_at", BigInteger, nullable=False),
    Column("event_at", BigInteger, nullable=True),
    Column("categories", Text, nullable=False, server_default="[]"),
    Column("attributes", Text, nullable=False, server_default="{}"),
    Column("search_text", Text, nullable=False, server_default=""),
    Column("updated_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("site_id", "generation", "product_key", name="pk_catalog_products"),
    Index("ix_catalog_products_feed", "site_id", "generation", "feed_id"),
    # Only the products events changed (the import carries their values over): a small
    # partial index, which the planner can never mistake for a product-key lookup path.
    Index(
        "ix_catalog_products_event",
        "site_id",
        "generation",
        "product_key",
        postgresql_where=text("event_at IS NOT NULL"),
        sqlite_where=text("event_at IS NOT NULL"),
    ),
    # Migration 0012: the products events changed, by write time: what the triggers' catalogue
    # watcher reads each tick (``triggers/watcher.py``). Partial like the one above: small.
    Index(
        "ix_catalog_products_event_updated",
        "site_id",
        "generation",
        "updated_at",
        postgresql_where=text("event_at IS NOT NULL"),
        sqlite_where=text("event_at IS NOT NULL"),
    ),
)

catalog_product_categories = Table(
    "catalog_product_categories",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("category_id", BigInteger, nullable=False),
    Column("product_key", String(255), nullable=False),
    PrimaryKeyConstraint(
        "site_id", "generation", "category_id", "product_key", name="pk_catalog_product_categories"
    ),
)

# Every category path ever seen for a site; ``category_id`` is a hash of the path, so it is
# the same in every generation. The tree shown is the part the live generation's products use.
catalog_categories = Table(
    "catalog_categories",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("category_id", BigInteger, nullable=False),
    Column("parent_id", BigInteger, nullable=True),
    Column("name", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("depth", Integer, nullable=False),
    PrimaryKeyConstraint("site_id", "category_id", name="pk_catalog_categories"),
)

catalog_history = Table(
    "catalog_history",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("product_key", String(255), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("source", String(16), nullable=False),
    Column("price", Float, nullable=True),
    Column("old_price", Float, nullable=True),
    Column("currency", String(8), nullable=True),
    Column("in_stock", Boolean, nullable=True),
    Column("old_in_stock", Boolean, nullable=True),
    Column("ref", String(128), nullable=True),
    PrimaryKeyConstraint("site_id", "product_key", "at", "source", name="pk_catalog_history"),
)

# Each visitor's latest browser report of a product's price or stock (migration 0008): the
# evidence a browser value needs before it may change a known product (``catalog/quorum.py``).
catalog_browser_reports = Table(
    "catalog_browser_reports",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("product_key", String(255), nullable=False),
    Column("field", String(8), nullable=False),  # "price" or "stock"
    Column("visitor_id", String(128), nullable=False),
    Column("value", String(64), nullable=False),
    Column("at", BigInteger, nullable=False),
    PrimaryKeyConstraint(
        "site_id", "product_key", "field", "visitor_id", name="pk_catalog_browser_reports"
    ),
    Index("ix_catalog_browser_reports_value", "site_id", "product_key", "field", "value", "at"),
    Index("ix_catalog_browser_reports_at", "site_id", "at"),
)
