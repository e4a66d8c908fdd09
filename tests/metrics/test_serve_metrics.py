"""``shoptrack serve``'s /metrics sums its processes: the API process and the worker child.

A real ``serve`` on SQLite: it makes a fresh metrics directory, its worker inherits it, and one
scrape shows the collector's counts (API process) beside the processors' (worker process),
including those of a worker killed and restarted.
"""

from __future__ import annotations

import os
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shoptrack.store.sites_repo import SiteRepository
from tests.processing.test_supervisor import children, environ, exited, is_worker, wait_for
from tests.support.databases import migrated_engine
from tests.support.payloads import browser_event, webevent_body
from tests.support.server import ServerProcess

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    url = f"sqlite:///{tmp_path / 'shoptrack.db'}"
    engine = migrated_engine(url)
    site, _key = SiteRepository(engine).create("Metrics shop", f"ms-{secrets.token_hex(4)}")
    engine.dispose()
    server = ServerProcess(url, tmp_path, env={"SHOPTRACK_PROCESSOR_POLL_INTERVAL_S": "0.1"})
    server.start()
    try:
        yield server, site.site_id
    finally:
        server.stop()


def scrape(server: ServerProcess) -> Samples:
    response = httpx.get(f"{server.url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def processed(samples: Samples) -> float:
    return samples.get(
        ("shoptrack_processor_events_total", frozenset({("processor", "identity")})), 0.0
    )


def the_worker(server: ServerProcess) -> int:
    assert server.process is not None
    found = wait_for(lambda: [p for p in children(server.process.pid) if is_worker(p)], 30)
    assert len(found) == 1, server.log_tail()
    return found[0]


def test_one_scrape_sums_the_api_process_and_the_worker(
    serve: tuple[ServerProcess, str],
) -> None:
    server, site_id = serve
    worker = the_worker(server)
    metrics_dir = environ(worker)["PROMETHEUS_MULTIPROC_DIR"]
    assert Path(metrics_dir).is_dir()

    for _ in range(3):
        body = webevent_body(site_id, browser_event("PageView"))
        answer = httpx.post(f"{server.url}/webevent", content=orjson.dumps(body), timeout=10)
        assert answer.status_code == 200, answer.text

    # The worker's processors read the three events; its counter reaches the API's scrape.
    def read_all() -> Samples | None:
        samples = scrape(server)
        return samples if processed(samples) >= 3 else None

    samples = wait_for(read_all, 30)
    assert samples is not None, server.log_tail()
    # A fresh directory: exactly this run's counts.
    assert samples[("shoptrack_events_accepted_total", frozenset())] == 3
    lag = ("shoptrack_processor_lag_events", frozenset({("processor", "identity")}))
    assert samples[lag] == 0

    # A killed worker is restarted; what it counted stays in the sum.
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: exited(worker), 10)
    restarted = the_worker(server)
    assert restarted != worker
    assert processed(scrape(server)) >= 3

    server.stop()
    # serve removes its directory when it stops.
    assert wait_for(lambda: not Path(metrics_dir).exists(), 10)
