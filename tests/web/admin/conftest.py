"""Fixtures of the dashboard's tests: a client signed in as a user of a fresh site."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.admin import AdminClient, admin_client_for
from tests.support.browser import launch_chromium


@pytest.fixture
def admin_client(client: TestClient, site: tuple[str, str]) -> AdminClient:
    """Signed in as ``staff@example.com``, who may see the ``site`` fixture's site only."""
    return admin_client_for(client, site[0])


@pytest.fixture
def chromium(playwright_driver: Any) -> Iterator[Any]:
    """A headless Chromium for one test (Debian's, through Playwright)."""
    launched = launch_chromium(playwright_driver)
    yield launched
    launched.close()
