"""Issue 13 point 2: an event a processor cannot handle stalls no other event and no other site.

The edge now refuses strings no store can hold, but the log may already hold such events
(written before), and a processor may fail on an event for other reasons. With every real
processor, on both stores: the events after a bad one, of its own site and of another, are
handled by every processor; only the bad events are recorded as failures.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from shoptrack.config import Settings
from shoptrack.processing.runner import ProcessorRunner, cursor_position
from shoptrack.store.tables import catalog_products, events, processor_failures
from shoptrack.web.app import create_app
from tests.support.payloads import rest_body


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url,
        key_file=tmp_path / "keys",
        commit_interval_ms=1,
        run_processors=False,  # the test runs them, to see what each event did
        processor_retry_backoff_s=60,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _services(client: TestClient) -> Any:
    return client.app.state.services  # type: ignore[attr-defined]


def _update(client: TestClient, site: tuple[str, str], key: str, name: str) -> None:
    products = [{"productKey": key, "name": name, "price": "5", "isInStock": 1}]
    body = rest_body(site[0], "ProductUpdate", {"ProductUpdate": {"Products": products}})
    response = client.post("/api/v2", json=body, headers={"Authorization": f"Bearer {site[1]}"})
    assert response.status_code == 200, response.text


def _copy_with(engine: Engine, site_id: str, data: str) -> int:
    """The site's last event again, under a new id, with ``data`` as its JSON; its seq."""
    with engine.begin() as conn:
        last = conn.execute(
            select(events).where(events.c.site_id == site_id).order_by(events.c.seq.desc())
        ).first()
        assert last is not None
        row = dict(last._mapping)
        row.pop("seq")
        row.update(event_id="legacy-" + uuid.uuid4().hex[:12], data=data)
        return int(conn.execute(events.insert().values(**row).returning(events.c.seq)).scalar_one())


def _titles(engine: Engine, site_id: str) -> dict[str, str]:
    stmt = select(catalog_products.c.product_key, catalog_products.c.title).where(
        catalog_products.c.site_id == site_id
    )
    with engine.connect() as conn:
        return {row.product_key: row.title for row in conn.execute(stmt)}


def test_bad_events_stall_no_processor_for_their_site_or_another(client: TestClient) -> None:
    services = _services(client)
    engine: Engine = services.engine
    runner: ProcessorRunner = services.runner
    site_a = services.site_repo.create("Shop A")
    site_b = services.site_repo.create("Shop B")
    a, b = (site_a[0].site_id, site_a[1]), (site_b[0].site_id, site_b[1])

    _update(client, a, "K0", "Template")
    with engine.connect() as conn:
        template = orjson.loads(
            conn.execute(select(events.c.data).where(events.c.site_id == a[0])).scalar_one()
        )
    product = template["products"][0]
    assert product["extra"]["name"] == "Template"
    product["extra"]["name"] = "n\x00"  # what the edge let through before
    bad = [
        _copy_with(engine, a[0], orjson.dumps(template).decode()),  # PostgreSQL refuses it
        _copy_with(engine, a[0], '{"products": [{"key": '),  # no processor can read it
    ]
    _update(client, a, "K1", "Later in A")
    _update(client, b, "K1", "Later in B")

    runner.drain()
    with engine.connect() as conn:
        last = int(conn.execute(select(func.max(events.c.seq))).scalar_one())
        cursors = {p.name: cursor_position(conn, p.name) for p in runner.processors}
        failures = conn.execute(
            select(processor_failures.c.processor, processor_failures.c.seq)
        ).all()
    assert cursors == {p.name: last for p in runner.processors}
    assert _titles(engine, a[0])["K1"] == "Later in A"
    assert _titles(engine, b[0]) == {"K1": "Later in B"}
    # Only the bad events were charged, and the unreadable one by the catalogue at least.
    assert {seq for _processor, seq in failures} <= set(bad)
    assert ("catalog", bad[1]) in {(p, s) for p, s in failures}
    if engine.dialect.name == "postgresql":
        assert ("catalog", bad[0]) in {(p, s) for p, s in failures}

    # Later still: the failures wait for their retry; nothing else waits for them.
    _update(client, a, "K2", "Even later in A")
    _update(client, b, "K2", "Even later in B")
    runner.drain()
    assert _titles(engine, a[0])["K2"] == "Even later in A"
    assert _titles(engine, b[0])["K2"] == "Even later in B"
