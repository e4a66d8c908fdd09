"""Triggers (migration 0011 on): rules, episodes, messages, attempts, watches and reports."""

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
    UniqueConstraint,
)

from shoptrack.store.tables.base import metadata

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
    # Migration 0018: only the contacts in this segment are sent the rule's messages.
    Column("segment_id", BigInteger, nullable=True),
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

# --- the messages a page at a time (migration 0017): a site's messages newest first, for
# ``/api/v1/messages`` and the dashboard, read along this index instead of sorting them all.
Index("ix_trigger_messages_site", trigger_messages.c.site_id, trigger_messages.c.message_id)
