"""The databases the shared test suite runs on: SQLite always, PostgreSQL when configured.

``SHOPTRACK_TEST_POSTGRES_URL`` names a PostgreSQL database; each test run works in its own
schema there (dropped at the end), so runs never see each other's rows.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, text

from shoptrack.store.db import create_store_engine, normalize_url
from shoptrack.store.migrate import upgrade
from shoptrack.store.tables import metadata

POSTGRES_ENV = "SHOPTRACK_TEST_POSTGRES_URL"


def postgres_base_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A fresh schema for this run; yields a database URL that uses it."""
    schema = f"shoptrack_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(normalize_url(base_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield with_search_path(base_url, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def migrated_engine(url: str) -> Engine:
    engine = create_store_engine(url)
    upgrade(engine)
    return engine


def empty_all_tables(engine: Engine) -> None:
    # DELETE rather than TRUNCATE: on these small test tables it is ~100x faster on
    # PostgreSQL, and no test depends on sequence values starting again from 1.
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
