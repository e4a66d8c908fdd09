"""A throw-away store for one bench run: a SQLite file in a temporary directory, or a fresh
PostgreSQL schema (dropped afterwards) reached through the URL's ``search_path``."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

from sqlalchemy import create_engine, text

from shoptrack.store.db import normalize_url


@contextmanager
def postgres_schema(base_url: str, prefix: str = "shoptrack_bench") -> Iterator[str]:
    """A fresh schema for this run; yields a URL that uses it."""
    schema = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(normalize_url(base_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def scratch_store(database_url: str | None, prefix: str = "shoptrack_bench") -> Iterator[str]:
    """SQLite in a temporary directory when no URL is given, else a schema of that PG."""
    if database_url is None:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    with postgres_schema(database_url, prefix) as url:
        yield url
