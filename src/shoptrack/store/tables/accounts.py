"""The dashboard's users (migration 0014): accounts, the sites each may see, sign-in sessions
and recent failed sign-ins.

These are the shop's staff, not its customers: the e-mail is kept in the clear (lower-cased)
because it is the login name; the password only as an argon2 hash; a session only as the
SHA-256 of its cookie value, so a copy of the store opens no session.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, PrimaryKeyConstraint, String, Table

from shoptrack.store.tables.base import metadata

dashboard_users = Table(
    "dashboard_users",
    metadata,
    Column("user_id", String(40), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("is_admin", Boolean, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    Column("last_login_at", BigInteger, nullable=True),
)

dashboard_user_sites = Table(
    "dashboard_user_sites",
    metadata,
    Column("user_id", String(40), nullable=False),
    Column("site_id", String(64), nullable=False),
    Column("granted_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("user_id", "site_id", name="pk_dashboard_user_sites"),
)

dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(40), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_dashboard_sessions_user", "user_id"),
)

# One row per failed sign-in, keyed by what it is counted against ("account:<email>" or
# "address:<ip>"); rows older than the throttle's window are deleted as new ones arrive.
dashboard_login_failures = Table(
    "dashboard_login_failures",
    metadata,
    Column("subject", String(400), nullable=False),
    Column("failed_at", BigInteger, nullable=False),
    Index("ix_dashboard_login_failures", "subject", "failed_at"),
)
