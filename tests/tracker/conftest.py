"""Browser fixtures: Chromium (``tests/support/browser.py``), a live collector, a shop origin."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.browser import launch_chromium
from tests.support.server import ServerProcess
from tests.tracker.helpers import ShopServer, StoredEvents

from shoptrack.store.db import create_store_engine
from shoptrack.store.migrate import upgrade
from shoptrack.store.sites_repo import SiteRepository


@pytest.fixture(scope="module")
def browser(playwright_driver: Any) -> Iterator[Any]:
    """One browser per module; each test takes a fresh context (cookies, storage) from it."""
    launched = launch_chromium(playwright_driver)
    yield launched
    launched.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context()
    errors: list[str] = []
    ctx.on("weberror", lambda error: errors.append(str(error.error)))
    ctx.page_errors = errors  # the tracker must never throw into a shop's page
    yield ctx
    ctx.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


@pytest.fixture(scope="session")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real ``shoptrack serve`` on its own port and SQLite file, shared by the modules
    (each test has its own site, so tests read only their own events)."""
    workdir = tmp_path_factory.mktemp("collector")
    server = ServerProcess(f"sqlite:///{workdir / 'shoptrack.db'}", workdir)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def shop() -> Iterator[ShopServer]:
    server = ShopServer()
    yield server
    server.close()


def create_site(server: ServerProcess, name: str = "Browser test shop") -> tuple[str, str]:
    engine = create_store_engine(server.database_url)
    try:
        upgrade(engine)
        site, key = SiteRepository(engine).create(name)
    finally:
        engine.dispose()
    return site.site_id, key


@pytest.fixture
def shop_site(collector: ServerProcess) -> tuple[str, str]:
    """(site_id, api_key) of a fresh site: each test reads only its own events."""
    return create_site(collector)


@pytest.fixture
def stored(collector: ServerProcess, shop_site: tuple[str, str]) -> StoredEvents:
    return StoredEvents(collector.url, shop_site[1])
