"""Every refusal names the collector step that made it, and the step is kept with it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from shoptrack.collector.pipeline import STEPS
from tests.support.apps import DATABASES, module_app
from tests.support.payloads import browser_event, rest_body, webevent_body

Site = tuple[str, str]


@pytest.fixture(scope="module", params=DATABASES)
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    with module_app(request, tmp_path_factory, "steps") as client:
        yield client


@pytest.fixture
def site(client: TestClient) -> Site:
    created, key = client.app.state.services.site_repo.create("Steps shop")  # type: ignore[attr-defined]
    return created.site_id, key


def _rejected(client: TestClient, key: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/rejected-events", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()["rejected"]
    return listed


def test_the_pipeline_is_a_named_list_of_steps() -> None:
    assert [name for name, _ in STEPS] == [
        "id", "type", "identity", "normalize", "validate", "enrich",
    ]  # fmt: skip


def test_each_rejected_event_records_the_step_that_refused_it(
    client: TestClient, site: Site
) -> None:
    site_id, key = site
    bad = {
        "id": browser_event("MainPage", event_id="has spaces"),
        "type": browser_event("NoSuchEvent", event_id="e-type"),
        "normalize": browser_event("ProductPage", {"ProductPage": {}}, event_id="e-norm"),
        "validate": browser_event("CustomerData", {"CustomerData": {}}, event_id="e-valid"),
        "cart": browser_event(
            "PurchasedItems",
            {"PurchasedItems": {"OrderNumber": "o-1", "GUID": "no-such-cart"}},
            event_id="e-cart",
        ),
        "envelope": {"id": "e-env", "style": "later", "name": "MainPage"},
    }
    body = webevent_body(site_id, *bad.values(), browser_event("MainPage"))
    response = client.post("/webevent", content=orjson.dumps(body))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    by_body = {orjson.dumps(e["body"]): e["step"] for e in _rejected(client, key)}
    assert {step: by_body[orjson.dumps(event)] for step, event in bad.items()} == {
        step: step for step in bad
    }


@pytest.mark.parametrize(
    ("content", "step"),
    [
        (b"{not json", "parse"),
        (b'{"site_id": "S", "events": [' + b"[" * 80 + b"]" * 80 + b"]}", "limits"),
        (b'{"site_id": "S", "events": "none"}', "envelope"),
        (b'{"site_id": "no-such-site", "events": []}', "site"),
    ],
    ids=["parse", "limits", "envelope", "site"],
)
def test_a_refused_body_records_its_step(
    client: TestClient, site: Site, content: bytes, step: str
) -> None:
    site_id, key = site
    content = content.replace(b'"S"', orjson.dumps(site_id))
    response = client.post("/webevent", content=content)
    assert response.status_code == 400, response.text
    # Refusals that name no known site are nobody's to list through the API: read the store.
    assert _newest_step(client) == step
    if step in ("limits", "envelope"):
        assert _rejected(client, key)[0]["step"] == step


def _newest_step(client: TestClient) -> str:
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return str(
            conn.exec_driver_sql("SELECT step FROM rejected_events ORDER BY seq DESC").scalar()
        )


def test_a_rest_event_with_a_wrong_key_records_the_auth_step(
    client: TestClient, site: Site
) -> None:
    site_id, _ = site
    response = client.post(
        "/api/v2",
        content=orjson.dumps(rest_body(site_id, "MainPage")),
        headers={"Authorization": "Bearer wrong-key"},
    )
    assert response.status_code == 401
    assert _newest_step(client) == "auth"
