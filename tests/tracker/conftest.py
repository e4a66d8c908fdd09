"""Browser fixtures: Debian's Chromium through Playwright, a live collector, a shop origin.

Without Chromium the browser tests are skipped with the reason, unless
``SHOPTRACK_REQUIRE_BROWSER=1`` (CI), where a missing browser fails them instead. Playwright
drives the system's ``/usr/bin/chromium``; it never downloads a browser of its own.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.server import ServerProcess
from tests.tracker.helpers import ShopServer, StoredEvents

from shoptrack.store.db import create_store_engine
from shoptrack.store.migrate import upgrade
from shoptrack.store.sites_repo import SiteRepository

REQUIRE_ENV = "SHOPTRACK_REQUIRE_BROWSER"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def browser_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def chromium_path() -> str:
    """The system Chromium, or skip (fail when the browser is required) with the reason."""
    path = shutil.which("chromium")
    problem = None
    if path is None:
        problem = "Debian's chromium is not installed (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright Python package is missing (pip install -e '.[test]')"
    if problem is not None:
        if browser_required():
            pytest.fail(f"{REQUIRE_ENV} is set but {problem}", pytrace=False)
        pytest.skip(f"browser tests need Chromium: {problem}")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver: Any) -> Iterator[Any]:
    """One browser per module; each test takes a fresh context (cookies, storage) from it."""
    launched = playwright_driver.chromium.launch(
        executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
    )
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
