"""Fixtures of the dashboard's tests: a client signed in as a user of a fresh site."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.admin import AdminClient, admin_client_for


@pytest.fixture
def admin_client(client: TestClient, site: tuple[str, str]) -> AdminClient:
    """Signed in as ``staff@example.com``, who may see the ``site`` fixture's site only."""
    return admin_client_for(client, site[0])
