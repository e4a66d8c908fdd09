"""``shoptrack serve --workers 2`` on uvicorn and on granian: real processes, real kills.

One HTTP worker is killed with SIGKILL while clients post: what a 200 acknowledged must be in
the store afterwards (each process acknowledges only after its own group commit), the other
worker keeps answering ``/healthz`` meanwhile, and the server's supervisor starts a new one.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.collector.test_crash import create_site, duplicated_ids, stored_ids
from tests.support.load import LoadDriver, make_batches
from tests.support.server import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

EVENTS = 1000
CLIENTS = 16
KILL_AFTER_ACKED_REQUESTS = 60
# Bounds for a hang, not for speed: a machine busy with other work must not fail the test.
PHASE_TIMEOUT_S = 60.0


@pytest.fixture(params=["uvicorn", "granian"])
def server(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> Iterator[ServerProcess]:
    process = ServerProcess(
        database_url, tmp_path, args=["--workers", "2", "--http", str(request.param)]
    )
    try:
        yield process
    finally:
        process.stop()


def wait_for_workers(server: ServerProcess, count: int, timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    workers = server.http_workers()
    while len(workers) != count and time.monotonic() < deadline:
        time.sleep(0.05)
        workers = server.http_workers()
    return workers


def test_kill_9_of_one_worker_loses_nothing_acknowledged(
    database_url: str, server: ServerProcess
) -> None:
    site_id, _ = create_site(database_url, "workers")
    server.start(timeout=PHASE_TIMEOUT_S)
    workers = wait_for_workers(server, 2, PHASE_TIMEOUT_S)
    assert len(workers) == 2, server.children()
    run_tag = secrets.token_hex(4)
    batches = make_batches(run_tag, EVENTS, visitors=100, seed=int(run_tag, 16))
    driver = LoadDriver(server.url, site_id, batches, clients=CLIENTS)
    driver.start()
    try:
        assert driver.wait_for_acks(KILL_AFTER_ACKED_REQUESTS, PHASE_TIMEOUT_S), driver.counters
        victim = workers[0]
        with driver.kill_during():
            os.kill(victim, signal.SIGKILL)
        # The clients retry at once, on the same port: the other worker takes them.
        driver.resume(server.url)
        # Until the supervisor replaced the victim, /healthz keeps answering 200.
        health: list[int] = []
        deadline = time.monotonic() + PHASE_TIMEOUT_S
        replaced: list[int] = []
        with httpx.Client(timeout=10) as client:
            while time.monotonic() < deadline:
                health.append(probe(client, server.url))
                current = server.http_workers()
                if len(current) == 2 and victim not in current:
                    replaced = current
                    break
                time.sleep(0.1)
            assert replaced, f"no new worker: {server.children()}\n{server.log_tail()}"
            assert health and set(health) == {200}, health
            # The new worker starts answering too: every answer now is 200.
            assert wait_healthy_answers(client, server.url, 10)
        assert driver.join(PHASE_TIMEOUT_S), (driver.counters, driver.pending_batches())
    finally:
        driver.join(1)
    assert not driver.counters.failures, driver.counters.failures[:5]
    assert driver.acked.keys() == driver.sent_ids
    stored = stored_ids(database_url, site_id)
    missing = driver.sent_ids - stored.keys()
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
    assert not duplicated_ids(database_url, site_id)


def probe(client: httpx.Client, url: str) -> int:
    """One /healthz answer's status. A reset connection is asked again once, on a new one, as
    a load balancer's probe would: with granian, about one run in ten on a loaded 2-core
    machine saw one reset in the seconds after the kill (never with uvicorn). A second
    reset in a row, or any answer but 200, still fails the test."""
    try:
        return client.get(f"{url}/healthz").status_code
    except httpx.ReadError:
        with httpx.Client(timeout=10) as fresh:
            return fresh.get(f"{url}/healthz").status_code


def wait_healthy_answers(client: httpx.Client, url: str, count: int) -> bool:
    """``count`` /healthz answers in a row, each on a new connection (any worker may take it)."""
    for _ in range(count):
        with httpx.Client(timeout=10) as fresh:
            if fresh.get(f"{url}/healthz").status_code != 200:
                return False
    return client.get(f"{url}/healthz").status_code == 200


def test_http_workers_stop_when_serve_is_killed(database_url: str, tmp_path: Path) -> None:
    """After a kill -9 of serve itself, its HTTP workers do not keep the port and the store."""
    server = ServerProcess(database_url, tmp_path, args=["--workers", "2", "--http", "uvicorn"])
    server.start(timeout=PHASE_TIMEOUT_S)
    try:
        workers = wait_for_workers(server, 2, PHASE_TIMEOUT_S)
        assert len(workers) == 2, server.children()
    finally:
        server.kill()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.1)
    left = [pid for pid in workers if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left


def _alive(pid: int) -> bool:
    """A live process, not a zombie awaiting its reaper."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return status != "Z"
