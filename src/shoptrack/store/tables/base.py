"""The schema, as SQLAlchemy Core tables. Alembic migrations in ``migrations/`` create it.

Every table leads its keys with ``site_id`` so the schema can later be distributed by site.
Times are integer milliseconds since the epoch: identical on SQLite and PostgreSQL, cheap to
compare, and turned into ISO 8601 only at the API's edge.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, MetaData

metadata = MetaData()

# SQLite only makes an INTEGER PRIMARY KEY an alias of its rowid (fast, auto-increment).
SeqType = BigInteger().with_variant(Integer(), "sqlite")
