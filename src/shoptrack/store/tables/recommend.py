"""Recommendations (0004) and their reports (0005): blocks, variants, snapshots, daily counts."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from shoptrack.store.tables.base import metadata

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
