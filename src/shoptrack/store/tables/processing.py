"""The audit log and what the processors keep of their own progress and failures."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from shoptrack.store.tables.base import SeqType, metadata

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
