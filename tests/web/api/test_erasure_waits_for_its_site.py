"""Issue 13 point 3: erasing a contact of one site does not depend on another site's processing.

Erasure first lets the identity processor read the site's committed events (so no identity
of the person still waits to be linked). It used to drain every processor over every site's
events: a processor stuck on another site's event made it fail (500) or wait a minute.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from shoptrack.config import Settings
from shoptrack.processing.runner import cursor_position
from shoptrack.store.tables import events
from shoptrack.web.app import create_app
from tests.support.failing import StuckOnSiteProcessor
from tests.support.identity import (
    auth,
    customer_data,
    post_contacts,
    product_view,
    send_browser,
    services_of,
)

Site = tuple[str, str]


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url,
        key_file=tmp_path / "keys",
        commit_interval_ms=1,
        run_processors=False,  # nothing runs the processors but the erasure's own catch-up
        erasure_wait_s=1.0,
        # PostgreSQL's sequence goes on from earlier tests: the first seq here follows a hole
        # that no writer will fill (all of this test's writes are committed when it reads).
        processor_gap_wait_s=0,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _site(client: TestClient, name: str) -> Site:
    created, key = services_of(client).site_repo.create(name)
    return created.site_id, key


def _contact_with_an_unlinked_visit(client: TestClient, site: Site) -> str:
    """A contact whose visitor's identity is in the log, not yet read by any processor."""
    site_id, key = site
    contact = post_contacts(client, key, {"email": "anna@example.com"}).json()["contact"]
    send_browser(client, site_id, "v-anna", product_view("P1"))
    send_browser(client, site_id, "v-anna", customer_data(user_email="anna@example.com"))
    return str(contact["id"])


def test_a_stuck_processor_of_another_site_does_not_hold_up_an_erasure(
    client: TestClient,
) -> None:
    services = services_of(client)
    site_a, site_b = _site(client, "Shop A"), _site(client, "Shop B")
    stuck = StuckOnSiteProcessor(site_b[0])
    services.runner.processors.append(stuck)
    # Site B's event first: every later event, site A's included, is behind it for ``stuck``.
    send_browser(client, site_b[0], "v-b", product_view("P9"))
    contact_id = _contact_with_an_unlinked_visit(client, site_a)

    started = time.monotonic()
    erased = client.delete(f"/api/v1/contacts/{contact_id}", headers=auth(site_a[1]))
    took = time.monotonic() - started
    assert erased.status_code == 200, erased.text
    assert took < 1.0, took  # within the wait, which it did not need
    # The identity processor read site A's events first: their visits were found and unlinked.
    assert erased.json()["visitors"] == 1
    assert erased.json()["events_unlinked"] == 2
    with services.engine.connect() as conn:
        visitors = conn.execute(
            select(events.c.visitor_id).where(events.c.site_id == site_a[0])
        ).scalars()
        assert all(v.startswith("erased-") for v in visitors)
        assert cursor_position(conn, stuck.name) == 0  # still stuck in front of site B's event


# PostgreSQL only: a worker holding a cursor row is PostgreSQL's (FOR UPDATE SKIP LOCKED). On
# SQLite the other worker holds the database's write lock instead, and the step in flight
# waits out SQLite's busy timeout (30 s) before the deadline is looked at again.
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_an_identity_processor_that_cannot_catch_up_is_a_503_in_bounded_time(
    client: TestClient, site: Site
) -> None:
    services = services_of(client)
    engine = services.engine
    send_browser(client, site[0], "v-other", product_view("P2"))
    services.runner.drain()  # the identity cursor's row exists now
    contact_id = _contact_with_an_unlinked_visit(client, site)
    with engine.connect() as other_worker:
        held = other_worker.execute(
            text("SELECT position FROM processor_cursors WHERE name = 'identity' FOR UPDATE")
        ).all()
        assert len(held) == 1
        started = time.monotonic()
        erased = client.delete(f"/api/v1/contacts/{contact_id}", headers=auth(site[1]))
        took = time.monotonic() - started
        other_worker.rollback()
    assert erased.status_code == 503, erased.text
    error = erased.json()["error"]
    assert error["code"] == "unavailable"
    assert "identity" in error["message"]
    assert 1.0 <= took < 3.0, took
    # Nothing was erased; once the processor can move, the erasure goes through.
    assert client.get(f"/api/v1/contacts/{contact_id}", headers=auth(site[1])).status_code == 200
    erased = client.delete(f"/api/v1/contacts/{contact_id}", headers=auth(site[1]))
    assert erased.status_code == 200, erased.text
    assert erased.json()["events_unlinked"] == 2
