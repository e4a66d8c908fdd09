"""``GET /metrics`` in one process (the default registry): what it counts and who may read it.

The registry is the test process's, shared by every app of the run: each test reads the
counters before and after what it does and checks the difference.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from shoptrack.config import Settings
from shoptrack.web.app import create_app
from tests.support.apps import DATABASES, module_app
from tests.support.payloads import browser_event, webevent_body

LOOPBACK = ("127.0.0.1", 50000)
TOKEN = "s3cret-metrics-token"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module", params=DATABASES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    # No processors in the app: the lag stays until the test moves the cursors itself.
    # Its requests come from 127.0.0.1; other addresses use clients without the lifespan (the
    # app's writer runs on this one's event loop), for requests that write nothing.
    with module_app(
        request, tmp_path_factory, "metrics", client_address=LOOPBACK, run_processors=False
    ) as client:
        yield client


def local(server: TestClient) -> TestClient:
    return server


def scrape(client: TestClient, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def new_site(client: TestClient) -> str:
    site, _key = client.app.state.services.site_repo.create("Metrics shop")  # type: ignore[attr-defined]
    return str(site.site_id)


def post(client: TestClient, site_id: str, *events: dict[str, object]) -> dict[str, object]:
    response = client.post(
        "/webevent",
        content=orjson.dumps(webevent_body(site_id, *events)),
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 200, response.text
    answer: dict[str, object] = response.json()
    return answer


def test_accepted_events_requests_and_commits_are_counted(server: TestClient) -> None:
    client = local(server)
    site_id = new_site(server)
    before = scrape(client)
    post(client, site_id, browser_event("PageView"), browser_event("PageView"))
    post(client, site_id, browser_event("PageView"))
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("shoptrack_events_accepted_total") == 3
    webevent = {"route": "/webevent", "method": "POST", "status": "200"}
    assert grew("shoptrack_http_requests_total", **webevent) == 2
    assert grew("shoptrack_http_request_duration_seconds_count", route="/webevent") == 2
    assert grew("shoptrack_commit_group_events_count") >= 1
    assert grew("shoptrack_commit_group_events_sum") == 3
    assert grew("shoptrack_commit_duration_seconds_count") >= 1
    # FastAPI's routes by template: the earlier scrape itself was counted.
    assert grew("shoptrack_http_requests_total", route="/metrics", method="GET", status="200") == 1
    # A path nobody routes is one series, whatever the path was.
    client.get("/no/such/path/a1")
    client.get("/no/such/path/b2")
    unmatched = value(
        scrape(client),
        "shoptrack_http_requests_total",
        route="unmatched",
        method="GET",
        status="404",
    )
    assert (
        unmatched
        - value(
            after, "shoptrack_http_requests_total", route="unmatched", method="GET", status="404"
        )
        == 2
    )


def test_rejected_events_are_counted_by_reason_and_step(server: TestClient) -> None:
    client = local(server)
    site_id = new_site(server)
    before = scrape(client)
    answer = post(client, site_id, browser_event("PageView"), browser_event("NoSuchEventType"))
    rejected = answer["rejected"]
    assert isinstance(rejected, list) and len(rejected) == 1
    reason = rejected[0]["error"]["code"]
    # A body refused whole (not JSON) is kept with its reason too.
    refused = client.post("/webevent", content=b"{not json", headers={"Content-Type": "text/plain"})
    assert refused.status_code == 400
    after = scrape(client)

    def grew(**labels: str) -> float:
        name = "shoptrack_events_rejected_total"
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew(reason=reason, step="type") == 1
    assert grew(reason=refused.json()["error"]["code"], step="parse") == 1
    assert (
        value(after, "shoptrack_events_accepted_total")
        - value(before, "shoptrack_events_accepted_total")
        == 1
    )


def test_processor_lag_in_events_and_seconds(server: TestClient) -> None:
    client = local(server)
    services = server.app.state.services  # type: ignore[attr-defined]
    services.runner.drain()
    caught_up = scrape(client)
    assert value(caught_up, "shoptrack_processor_lag_events", processor="identity") == 0
    assert value(caught_up, "shoptrack_processor_lag_seconds", processor="identity") == 0

    post(client, new_site(server), browser_event("PageView"), browser_event("PageView"))
    behind = scrape(client)
    for processor in (p.name for p in services.runner.processors):
        assert value(behind, "shoptrack_processor_lag_events", processor=processor) == 2
        assert value(behind, "shoptrack_processor_lag_seconds", processor=processor) >= 0
        assert ("shoptrack_processor_lag_seconds", frozenset({("processor", processor)})) in behind

    services.runner.drain()
    again = scrape(client)
    assert value(again, "shoptrack_processor_lag_events", processor="identity") == 0
    assert value(again, "shoptrack_processor_events_total", processor="identity") >= 2
    assert ("shoptrack_trigger_queue_messages", frozenset({("status", "pending")})) in again
    assert ("shoptrack_trigger_due_messages", frozenset()) in again


# --- who may read them -----------------------------------------------------------------------


def test_by_default_only_loopback_clients_not_through_a_proxy(server: TestClient) -> None:
    assert local(server).get("/metrics").status_code == 200
    remote = TestClient(server.app, client=("203.0.113.7", 40000))
    refused = remote.get("/metrics")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    # The usual test client is no address at all: refused too.
    assert TestClient(server.app).get("/metrics").status_code == 403
    # A proxy on the same machine makes every visitor local: a forwarded request is refused.
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        assert local(server).get("/metrics", headers={header: "198.51.100.1"}).status_code == 403
    ipv6 = TestClient(server.app, client=("::1", 40000))
    assert ipv6.get("/metrics").status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_token_lets_any_client_with_it_in(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"metrics_token": SecretStr(TOKEN)}))
    with TestClient(app, client=("203.0.113.7", 40000)) as remote:
        assert (
            remote.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        )
        for wrong in ("", f"Bearer {TOKEN}x", f"Basic {TOKEN}", "Bearer"):
            refused = remote.get("/metrics", headers={"Authorization": wrong} if wrong else {})
            assert refused.status_code == 401, wrong
            assert refused.headers["www-authenticate"] == "Bearer"
            assert refused.json()["error"]["code"] == "unauthorized"
        # With a token, loopback is no pass: the token is the one rule.
        assert TestClient(app, client=LOOPBACK).get("/metrics").status_code == 401


def test_metrics_are_not_in_the_api_schema(server: TestClient) -> None:
    assert "/metrics" not in server.get("/openapi.json").json()["paths"]
