"""Fixtures shared by the whole suite: databases, settings, an in-process app, a site."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from shoptrack.config import Settings
from shoptrack.store.sites_repo import SiteRepository
from shoptrack.web.app import create_app
from tests.support.browser import chromium_path
from tests.support.databases import (
    POSTGRES_ENV,
    empty_all_tables,
    migrated_engine,
    postgres_base_url,
    postgres_schema,
)

# Starlette's TestClient asks for http://testserver/…; production trusts only its own names
# (SHOPTRACK_TRUSTED_HOSTS, config.py). Set for the whole run, so every test's Settings and
# every server process it starts answer the test clients' Host; tests of the default unset it.
TEST_TRUSTED_HOSTS = "testserver,localhost,127.0.0.1,[::1]"
os.environ.setdefault("SHOPTRACK_TRUSTED_HOSTS", TEST_TRUSTED_HOSTS)

SKIP_POSTGRES = f"PostgreSQL tests need {POSTGRES_ENV}=postgresql://user@host/db"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    base = postgres_base_url()
    if base is None:
        pytest.skip(SKIP_POSTGRES)
    # With the variable set the database is required: failing to reach it is an error.
    with postgres_schema(base) as url:
        yield url


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    """The run's one Playwright driver (tests/support/browser.py says why only one)."""
    chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every test that takes this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shoptrack.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    engine = migrated_engine(url)
    empty_all_tables(engine)
    engine.dispose()
    yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = migrated_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url, key_file=tmp_path / "shoptrack.keys", commit_interval_ms=1
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def site(client: TestClient) -> tuple[str, str]:
    """(site_id, api_key) of a fresh site in the client's store."""
    repo: SiteRepository = client.app.state.services.site_repo  # type: ignore[attr-defined]
    created, key = repo.create("Test shop")
    return created.site_id, key
