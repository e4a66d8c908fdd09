"""The schema, as SQLAlchemy Core tables. Alembic migrations in ``migrations/`` create it.

Every table leads its keys with ``site_id`` so the schema can later be distributed by site.
Times are integer milliseconds since the epoch: identical on SQLite and PostgreSQL, cheap to
compare, and turned into ISO 8601 only at the API's edge.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

# SQLite only makes an INTEGER PRIMARY KEY an alias of its rowid (fast, auto-increment).
SeqType = BigInteger().with_variant(Integer(), "sqlite")

sites = Table(
    "sites",
    metadata,
    Column("site_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("settings", Text, nullable=False, server_default="{}"),
    # The secret the shop's server signs browser identities with (identity/signing.py).
    Column("identity_secret_enc", LargeBinary, nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("site_id", String(64), nullable=False, index=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
)

events = Table(
    "events",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("site_id", String(64), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("type", String(32), nullable=False),
    Column("occurred_at", BigInteger, nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Column("visitor_id", String(128), nullable=True),
    Column("session_id", String(128), nullable=True),
    Column("contact_id", String(64), nullable=True),
    Column("source", String(16), nullable=False),
    Column("cart_guid", String(128), nullable=True),
    Column("data", Text, nullable=False),
    Column("identity_enc", LargeBinary, nullable=True),
    UniqueConstraint("site_id", "event_id", name="uq_events_site_event"),
    Index("ix_events_site_seq", "site_id", "seq"),
    Index("ix_events_site_type_seq", "site_id", "type", "seq"),
    Index("ix_events_site_visitor_seq", "site_id", "visitor_id", "seq"),
    Index("ix_events_site_cart", "site_id", "cart_guid"),
)

rejected_events = Table(
    "rejected_events",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("site_id", String(64), nullable=True),
    Column("event_id", String(128), nullable=True),
    Column("received_at", BigInteger, nullable=False),
    Column("source", String(16), nullable=False),
    Column("endpoint", String(64), nullable=False),
    Column("code", String(32), nullable=False),
    Column("step", String(32), nullable=True),  # migration 0007: the collector step that refused
    Column("message", Text, nullable=False),
    Column("field", String(256), nullable=True),
    Column("body_size", Integer, nullable=False),
    Column("body_enc", LargeBinary, nullable=False),
    Index("ix_rejected_site_seq", "site_id", "seq"),
)

# --- identity (migration 0002): contacts and what links visitors to them -------------------
# Personal fields live only in ``profile_enc`` / ``identity_enc`` (AES-GCM, identity/crypto.py);
# lookups go through the ``*_bidx`` blind indexes. A merged contact keeps a row without personal
# data whose ``merged_into`` names the survivor.
contacts = Table(
    "contacts",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("contact_id", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("source", String(16), nullable=False),
    Column("external_bidx", String(64), nullable=True),
    Column("email_bidx", String(64), nullable=True),
    Column("phone_bidx", String(64), nullable=True),
    Column("profile_enc", LargeBinary, nullable=True),
    Column("merged_into", String(64), nullable=True),
    PrimaryKeyConstraint("site_id", "contact_id", name="pk_contacts"),
    Index("uq_contacts_site_external", "site_id", "external_bidx", unique=True),
    Index("uq_contacts_site_email", "site_id", "email_bidx", unique=True),
    Index("uq_contacts_site_phone", "site_id", "phone_bidx", unique=True),
    Index("ix_contacts_site_merged", "site_id", "merged_into"),
)

contact_visitors = Table(
    "contact_visitors",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("visitor_id", String(128), nullable=False),
    Column("contact_id", String(64), nullable=False),
    Column("linked_at", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=True),
    PrimaryKeyConstraint("site_id", "visitor_id", name="pk_contact_visitors"),
    Index("ix_contact_visitors_contact", "site_id", "contact_id"),
)

pending_identities = Table(
    "pending_identities",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("pending_id", String(64), nullable=False),
    Column("visitor_id", String(128), nullable=False),
    Column("external_bidx", String(64), nullable=True),
    Column("email_bidx", String(64), nullable=True),
    Column("phone_bidx", String(64), nullable=True),
    Column("identity_enc", LargeBinary, nullable=False),
    Column("first_seen_at", BigInteger, nullable=False),
    Column("last_seen_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("site_id", "pending_id", name="pk_pending_identities"),
    Index("ix_pending_site_visitor_id", "site_id", "visitor_id"),
    Index("ix_pending_site_external_bidx", "site_id", "external_bidx"),
    Index("ix_pending_site_email_bidx", "site_id", "email_bidx"),
    Index("ix_pending_site_phone_bidx", "site_id", "phone_bidx"),
)

contact_merges = Table(
    "contact_merges",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("merge_id", String(64), nullable=False),
    Column("survivor_id", String(64), nullable=False),
    Column("merged_id", String(64), nullable=False),
    Column("matched_on", String(32), nullable=False),
    Column("source", String(16), nullable=False),
    Column("merged_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("site_id", "merge_id", name="pk_contact_merges"),
    Index("ix_contact_merges_survivor", "site_id", "survivor_id"),
)

# Erasures and key rotations; ``details`` holds counts and ids, never personal data.
audit_log = Table(
    "audit_log",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("audit_id", String(64), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(128), nullable=True),
    Column("actor", String(64), nullable=False),
    Column("details", Text, nullable=False, server_default="{}"),
    PrimaryKeyConstraint("site_id", "audit_id", name="pk_audit_log"),
    Index("ix_audit_log_site_at", "site_id", "at"),
)

# How far each processor (identity, and later triggers, reports …) has read the event log.
processor_cursors = Table(
    "processor_cursors",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", BigInteger, nullable=False, server_default="0"),
)

# An event a processor could not handle (migration 0006). The cursor moves past it at once; it
# is retried ("retrying", at ``next_attempt_at``) until ``attempts`` reaches the setting, then
# "skipped" until a replay succeeds ("resolved"). ``reason`` never holds values from the event.
processor_failures = Table(
    "processor_failures",
    metadata,
    Column("failure_id", SeqType, primary_key=True, autoincrement=True),
    Column("site_id", String(64), nullable=False),
    Column("processor", String(64), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("first_failed_at", BigInteger, nullable=False),
    Column("last_failed_at", BigInteger, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=True),
    Column("resolved_at", BigInteger, nullable=True),
    UniqueConstraint("processor", "seq", name="uq_processor_failures_event"),
    Index("ix_processor_failures_site", "site_id", "failure_id"),
    Index("ix_processor_failures_due", "processor", "status", "next_attempt_at"),
)

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

# --- recommendation reports (migration 0005): derived from the event log by the reports
# processor (``reports/attribution.py``); ``shoptrack reports rebuild`` recomputes them. --------
# One row per site, UTC day, block and variant; CTR, conversion and AOV are computed when read.
report_block_daily = Table(
    "report_block_daily",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("day", String(10), nullable=False),  # YYYY-MM-DD (UTC): sorts and compares as text
    Column("block_id", String(64), nullable=False),
    Column("variant_id", String(64), nullable=False),
    Column("impressions", BigInteger, nullable=False, server_default="0"),
    Column("product_impressions", BigInteger, nullable=False, server_default="0"),
    Column("clicks", BigInteger, nullable=False, server_default="0"),
    Column("add_to_carts", BigInteger, nullable=False, server_default="0"),
    Column("purchases", BigInteger, nullable=False, server_default="0"),
    Column("items", Float, nullable=False, server_default="0"),
    Column("revenue", Float, nullable=False, server_default="0"),
    # Orders the block took part in (a product from it, or a session that came through it),
    # each counted once with its whole value (migration 0009).
    Column("assisted_purchases", BigInteger, nullable=False, server_default="0"),
    Column("assisted_revenue", Float, nullable=False, server_default="0"),
    PrimaryKeyConstraint("site_id", "day", "block_id", "variant_id", name="pk_report_block_daily"),
)

# The last block a visitor reached a product from: what the click-within-window attribution
# of add-to-carts and purchases reads. ``carted`` / ``converted``: already counted once.
report_clicks = Table(
    "report_clicks",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("visitor_id", String(128), nullable=False),
    Column("product_key", String(255), nullable=False),
    Column("block_id", String(64), nullable=False),
    Column("variant_id", String(64), nullable=False),
    Column("clicked_at", BigInteger, nullable=False),
    Column("session_id", String(128), nullable=True),
    Column("carted", Boolean, nullable=False, server_default="0"),
    Column("converted", Boolean, nullable=False, server_default="0"),
    PrimaryKeyConstraint("site_id", "visitor_id", "product_key", name="pk_report_clicks"),
)

# Clicks already counted per visitor session and sc_content (and the landing URL of the last
# one): the tracker repeats a remembered sc_content on the session's later events.
report_click_sessions = Table(
    "report_click_sessions",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("visitor_id", String(128), nullable=False),
    Column("session_id", String(128), nullable=False),
    Column("container_type", String(128), nullable=False),
    Column("last_url", Text, nullable=True),
    Column("at", BigInteger, nullable=False),
    PrimaryKeyConstraint(
        "site_id", "visitor_id", "session_id", "container_type", name="pk_report_click_sessions"
    ),
)

# --- recommendations (migration 0004): blocks, A/B variants, change history, model snapshots --
# Block and variant ids are small integers per site (``r{block_id}v{variant_id}``); every
# change bumps ``rec_blocks.version`` and writes one ``rec_block_changes`` row.
rec_blocks = Table(
    "rec_blocks",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("block_id", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    Column("page_type", String(16), nullable=False),
    Column("product_count", Integer, nullable=False),
    Column("filters", Text, nullable=False, server_default="{}"),
    Column("selector", Text, nullable=True),
    Column("position", String(16), nullable=False),
    Column("template", Text, nullable=True),
    Column("title", Text, nullable=True),
    Column("status", String(16), nullable=False),
    Column("placement_id", BigInteger, nullable=True),
    Column("preview_token", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("site_id", "block_id", name="pk_rec_blocks"),
)

rec_variants = Table(
    "rec_variants",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("variant_id", Integer, nullable=False),
    Column("block_id", Integer, nullable=False),
    Column("algorithm", String(64), nullable=False),
    Column("params", Text, nullable=False, server_default="{}"),
    Column("weight", Float, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("site_id", "variant_id", name="pk_rec_variants"),
    Index("ix_rec_variants_block", "site_id", "block_id"),
)

rec_block_changes = Table(
    "rec_block_changes",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("block_id", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("details", Text, nullable=False, server_default="{}"),
    PrimaryKeyConstraint("site_id", "block_id", "version", name="pk_rec_block_changes"),
)

# A trained model per site (serialized arrays); serving loads the newest one.
rec_snapshots = Table(
    "rec_snapshots",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("snapshot_id", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("upto_seq", BigInteger, nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("items", Integer, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("site_id", "snapshot_id", name="pk_rec_snapshots"),
)

# Popularity counters folded in since the site's last snapshot (no full retrain needed).
rec_counters = Table(
    "rec_counters",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("snapshot_id", Integer, nullable=False),
    Column("upto_seq", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("site_id", name="pk_rec_counters"),
)

# --- triggers (migration 0011): rules per site, open episodes, decided messages, attempts ---
# ``shoptrack.triggers`` explains the flow: the processor keeps one open episode per visitor and
# rule in ``trigger_candidates``; when it is due the decider writes at most one message per
# (site, rule, contact, episode): the unique key is the exactly-once guarantee.
trigger_rules = Table(
    "trigger_rules",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("rule", String(32), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("delay_s", Integer, nullable=False),
    Column("cap_days", Integer, nullable=False),
    Column("webhook_url", Text, nullable=True),
    Column("template", Text, nullable=True),
    Column("thresholds", Text, nullable=False, server_default="{}"),
    Column("updated_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("site_id", "rule", name="pk_trigger_rules"),
)

trigger_candidates = Table(
    "trigger_candidates",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("rule", String(32), nullable=False),
    Column("visitor_id", String(128), nullable=False),
    Column("episode_key", String(160), nullable=False),
    Column("due_at", BigInteger, nullable=False),
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("state", String(8), nullable=False),  # open | done
    Column("reason", Text, nullable=True),  # why it ended without a message (anonymous …)
    Column("updated_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("site_id", "rule", "visitor_id", name="pk_trigger_candidates"),
    Index("ix_trigger_candidates_due", "state", "due_at"),
    # An order naming a cart's GUID ends that cart's episode, whoever's it is.
    Index("ix_trigger_candidates_episode", "site_id", "rule", "episode_key"),
)

trigger_messages = Table(
    "trigger_messages",
    metadata,
    Column("message_id", String(40), primary_key=True),
    Column("site_id", String(64), nullable=False),
    Column("rule", String(32), nullable=False),
    Column("contact_id", String(64), nullable=False),
    Column("episode_key", String(160), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("due_at", BigInteger, nullable=False),
    Column("decided_at", BigInteger, nullable=False),
    Column("sent_at", BigInteger, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("content", Text, nullable=False, server_default="{}"),  # never an address in clear
    Column("reason", Text, nullable=True),
    UniqueConstraint("site_id", "rule", "contact_id", "episode_key", name="uq_trigger_messages"),
    Index("ix_trigger_messages_contact", "site_id", "contact_id", "decided_at"),
    Index("ix_trigger_messages_status", "status", "next_attempt_at"),
)

# Each attempt is committed before the send is made: one without an outcome after a crash
# "may have reached the server" (``triggers/send.py`` says what happens then).
trigger_attempts = Table(
    "trigger_attempts",
    metadata,
    Column("message_id", String(40), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger, nullable=True),
    Column("outcome", String(16), nullable=True),
    Column("detail", Text, nullable=True),
    PrimaryKeyConstraint("message_id", "attempt", name="pk_trigger_attempts"),
)

# A contact that unsubscribed from a channel's trigger messages: the engine sends it none on
# that channel until it subscribes again (the row is deleted). Written by /unsubscribe/{token}.
trigger_unsubscribes = Table(
    "trigger_unsubscribes",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("contact_id", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("at", BigInteger, nullable=False),
    PrimaryKeyConstraint("site_id", "contact_id", "channel", name="pk_trigger_unsubscribes"),
)

# --- catalogue-change rules (migration 0012): wishlist, price_drop, back_in_stock -------------
# What each visitor watches: a product it viewed (price_drop; back_in_stock when it was out of
# stock) or wishlisted, with the price and stock it saw. ``qualified`` is whether the live
# catalogue met the rule's condition at the watcher's last look: only a change from false to
# true wakes the visitor's episode (``triggers/watcher.py``).
trigger_watches = Table(
    "trigger_watches",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("rule", String(32), nullable=False),
    Column("visitor_id", String(128), nullable=False),
    Column("product_key", String(255), nullable=False),
    Column("seen_price", Float, nullable=True),
    Column("seen_currency", String(8), nullable=True),
    Column("seen_in_stock", Boolean, nullable=True),
    Column("seen_at", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("qualified", Boolean, nullable=False),
    PrimaryKeyConstraint("site_id", "rule", "visitor_id", "product_key", name="pk_trigger_watches"),
    # A changed product's watchers; the expired watches of a rule; the watches new since the
    # watcher's last look.
    Index("ix_trigger_watches_product", "site_id", "product_key"),
    Index("ix_trigger_watches_seen", "site_id", "rule", "seen_at"),
    Index("ix_trigger_watches_seq", "site_id", "seq"),
)

# Per site: the live catalogue generation, the write time up to which the watcher has read
# changed products (it reads again from a little before it) and the newest watch it has
# looked at (``triggers/watcher.py``).
trigger_catalog_marks = Table(
    "trigger_catalog_marks",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("mark", BigInteger, nullable=False),
    Column("watch_seq", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("site_id", name="pk_trigger_catalog_marks"),
)

# --- trigger reports (migration 0013): what the messages of each rule brought in -------------
# ``sent`` is counted from ``trigger_messages`` by this index when the report is read; the
# ``trigger_reports`` processor keeps the rest from the event log (``triggers/report.py``).
Index("ix_trigger_messages_sent", trigger_messages.c.site_id, trigger_messages.c.sent_at)

# Per site, UTC day the messages were sent, and rule: the messages clicked, the orders after
# a click and their revenue. A later click or order is added to its message's day. Counts only.
trigger_report_daily = Table(
    "trigger_report_daily",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("day", String(10), nullable=False),  # YYYY-MM-DD (UTC) of the message's send
    Column("rule", String(32), nullable=False),
    Column("clicked", BigInteger, nullable=False, server_default="0"),
    Column("orders", BigInteger, nullable=False, server_default="0"),
    Column("revenue", Float, nullable=False, server_default="0"),
    PrimaryKeyConstraint("site_id", "day", "rule", name="pk_trigger_report_daily"),
)

# Per message, once it was clicked: its rule and send day, the first click, and whether an
# order was credited to it already (each message converts once).
trigger_report_messages = Table(
    "trigger_report_messages",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("message_id", String(40), nullable=False),
    Column("rule", String(32), nullable=False),
    Column("day", String(10), nullable=False),
    Column("clicked_at", BigInteger, nullable=False),
    Column("converted_at", BigInteger, nullable=True),
    PrimaryKeyConstraint("site_id", "message_id", name="pk_trigger_report_messages"),
)

# The last message a visitor (``subject`` 'visitor') or a message's contact ('contact') came
# through, and when: the last-click attribution of an order within the window. Ids only.
trigger_report_visits = Table(
    "trigger_report_visits",
    metadata,
    Column("site_id", String(64), nullable=False),
    Column("subject", String(8), nullable=False),
    Column("subject_id", String(128), nullable=False),
    Column("message_id", String(40), nullable=False),
    Column("clicked_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("site_id", "subject", "subject_id", name="pk_trigger_report_visits"),
)
