"""Erasing from the dashboard when the site's events cannot all be read in time: a page that
says so (503), nothing erased, and the same button works once the processor can move."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from shoptrack.config import Settings
from shoptrack.web.app import create_app
from tests.support.admin import admin_client_for, csrf_of
from tests.support.identity import (
    customer_data,
    post_contacts,
    product_view,
    send_browser,
    services_of,
)


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url,
        key_file=tmp_path / "keys",
        commit_interval_ms=1,
        run_processors=False,  # nothing runs the processors but the erasure's own catch-up
        erasure_wait_s=1.0,
        processor_gap_wait_s=0,  # PostgreSQL's sequence goes on from earlier tests
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


# PostgreSQL only, as in tests/web/api/test_erasure_waits_for_its_site.py: another worker
# holding the identity cursor's row (FOR UPDATE) is what keeps the erasure waiting.
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_an_erasure_that_cannot_wait_says_so_and_erases_nothing(
    client: TestClient, site: tuple[str, str]
) -> None:
    site_id, key = site
    services = services_of(client)
    send_browser(client, site_id, "v-other", product_view("P2"))
    services.runner.drain()  # the identity cursor's row exists now
    contact = post_contacts(client, key, {"email": "wait@example.com"}).json()["contact"]
    send_browser(client, site_id, "v-wait", customer_data(user_email="wait@example.com"))
    admin = admin_client_for(client, site_id)
    path = f"/admin/sites/{site_id}/contacts/{contact['id']}/erase"
    token = csrf_of(admin.get(path).text)
    with services.engine.connect() as other_worker:
        other_worker.execute(
            text("SELECT position FROM processor_cursors WHERE name = 'identity' FOR UPDATE")
        ).all()
        refused = admin.post(path, data={"csrf_token": token})
        other_worker.rollback()
    assert refused.status_code == 503
    assert "Not erased" in refused.text and "identity" in refused.text
    assert admin.get(f"/admin/sites/{site_id}/contacts/{contact['id']}").status_code == 200
    done = admin.post(path, data={"csrf_token": token})
    assert done.status_code == 303 and "/erasures/au_" in done.headers["location"]
