"""The schema, as SQLAlchemy Core tables, one module per area. Alembic migrations in
``migrations/`` create it; ``base.py`` says the conventions (site-led keys, integer ms times).

Importing this package names every table, so ``from shoptrack.store import tables`` and
``from shoptrack.store.tables import events`` read the same as when it was one module.
"""

from __future__ import annotations

from shoptrack.store.tables.accounts import (
    dashboard_login_failures,
    dashboard_sessions,
    dashboard_user_sites,
    dashboard_users,
)
from shoptrack.store.tables.analytics import (
    traffic_daily,
    traffic_pages,
    traffic_types,
    traffic_visitors,
)
from shoptrack.store.tables.base import SeqType, metadata
from shoptrack.store.tables.catalog import (
    catalog_browser_reports,
    catalog_categories,
    catalog_feeds,
    catalog_history,
    catalog_imports,
    catalog_product_categories,
    catalog_products,
    catalog_state,
)
from shoptrack.store.tables.core import api_keys, events, rejected_events, sites
from shoptrack.store.tables.identity import (
    contact_field_index,
    contact_merges,
    contact_visitors,
    contacts,
    pending_identities,
)
from shoptrack.store.tables.processing import audit_log, processor_cursors, processor_failures
from shoptrack.store.tables.recommend import (
    rec_block_changes,
    rec_blocks,
    rec_counters,
    rec_snapshots,
    rec_variants,
    report_block_daily,
    report_click_sessions,
    report_clicks,
)
from shoptrack.store.tables.segments import (
    segment_changes,
    segment_counts,
    segment_facts,
    segment_members,
    segments,
)
from shoptrack.store.tables.triggers import (
    trigger_attempts,
    trigger_candidates,
    trigger_catalog_marks,
    trigger_messages,
    trigger_report_daily,
    trigger_report_messages,
    trigger_report_visits,
    trigger_rules,
    trigger_unsubscribes,
    trigger_watches,
)

__all__ = [
    "SeqType",
    "api_keys",
    "audit_log",
    "catalog_browser_reports",
    "catalog_categories",
    "catalog_feeds",
    "catalog_history",
    "catalog_imports",
    "catalog_product_categories",
    "catalog_products",
    "catalog_state",
    "contact_field_index",
    "contact_merges",
    "contact_visitors",
    "contacts",
    "dashboard_login_failures",
    "dashboard_sessions",
    "dashboard_user_sites",
    "dashboard_users",
    "events",
    "metadata",
    "pending_identities",
    "processor_cursors",
    "processor_failures",
    "rec_block_changes",
    "rec_blocks",
    "rec_counters",
    "rec_snapshots",
    "rec_variants",
    "rejected_events",
    "report_block_daily",
    "report_click_sessions",
    "report_clicks",
    "segment_changes",
    "segment_counts",
    "segment_facts",
    "segment_members",
    "segments",
    "sites",
    "traffic_daily",
    "traffic_pages",
    "traffic_types",
    "traffic_visitors",
    "trigger_attempts",
    "trigger_candidates",
    "trigger_catalog_marks",
    "trigger_messages",
    "trigger_report_daily",
    "trigger_report_messages",
    "trigger_report_visits",
    "trigger_rules",
    "trigger_unsubscribes",
    "trigger_watches",
]
