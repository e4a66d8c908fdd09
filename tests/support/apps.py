"""One real app per database for a whole test module.

Starting an app per test would cost more than most tests; modules that use this isolate each
test by the fresh site of the ``site`` fixture instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shoptrack.config import Settings
from shoptrack.web.app import create_app
from tests.support.databases import empty_all_tables, migrated_engine

DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextmanager
def module_app(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    client_address: tuple[str, int] = ("testclient", 50000),
    **overrides: Any,
) -> Iterator[TestClient]:
    """A TestClient on SQLite or (``request.param == "postgres"``) the run's PostgreSQL schema,
    its requests coming from ``client_address`` (Starlette's default: not an IP address)."""
    tmp = tmp_path_factory.mktemp(name)
    url = f"sqlite:///{tmp / 'shoptrack.db'}"
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        engine = migrated_engine(url)
        empty_all_tables(engine)
        engine.dispose()
    settings = Settings(
        database_url=url, key_file=tmp / "shoptrack.keys", commit_interval_ms=1, **overrides
    )
    with TestClient(create_app(settings), client=client_address) as client:
        yield client
