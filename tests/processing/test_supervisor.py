"""``shoptrack serve`` runs the processors in a supervised ``shoptrack worker`` child.

Real processes, no mocks: a ``serve`` subprocess on SQLite, its children found through
``/proc``. The child must carry the database URL in its environment (never in its arguments),
die with its parent even after a ``kill -9``, be restarted when it dies alone, stop with a
normal stop of ``serve``, not exist when processors are switched off, and really process the
events the collector takes.

An orphaned child is reparented to init (or a subreaper), which may be slow to reap it, or
never do it (the init of some containers): a zombie counts as exited.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import orjson
import pytest
from sqlalchemy import select

from shoptrack.catalog.event_values import CatalogEventProcessor
from shoptrack.identity.linking import IdentityProcessor
from shoptrack.recommend.scheduler import RecommendationScheduler
from shoptrack.reports.attribution import ReportsProcessor
from shoptrack.store.sites_repo import SiteRepository
from shoptrack.store.tables import events, processor_cursors
from tests.support.databases import migrated_engine
from tests.support.payloads import browser_event, webevent_body
from tests.support.server import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

T = TypeVar("T")

# Generous for a busy machine; on an idle one each wait below takes well under a second or two.
EXIT_TIMEOUT_S = 10.0
RESTART_TIMEOUT_S = 10.0
PROCESSED_TIMEOUT_S = 20.0
# Printed by the child on start and on a clean stop (on stderr, which is serve's log).
WORKER_STARTED = "worker running processors"
WORKER_STOPPED = "worker stopped after"
WORKER_DIED = "the processor worker exited"
PROCESSORS = {
    IdentityProcessor.name,
    CatalogEventProcessor.name,
    RecommendationScheduler.name,
    ReportsProcessor.name,
}


# --- /proc ---------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process; None once it is reaped."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name, in parentheses, may itself hold spaces and parentheses.
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def exited(pid: int) -> bool:
    """Reaped, or a zombie (dead, waiting for a parent that may never reap it)."""
    stat = _stat(pid)
    return stat is None or stat[0] in ("Z", "X", "x")


def children(pid: int) -> list[int]:
    """Live child processes of ``pid``."""
    task_dir = Path(f"/proc/{pid}/task")
    found: set[int] = set()
    files = list(task_dir.glob("*/children")) if task_dir.exists() else []
    if files:
        for path in files:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # thread ended
                found.update(int(child) for child in path.read_text().split())
    else:
        # Kernels without CONFIG_PROC_CHILDREN have no children files: scan every process.
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                stat = _stat(int(entry.name))
                if stat is not None and stat[1] == pid:
                    found.add(int(entry.name))
    return sorted(child for child in found if not exited(child))


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


def is_worker(pid: int) -> bool:
    args = cmdline(pid)
    return "worker" in args and "--exit-with-parent" in args and not exited(pid)


def wait_for(probe: Callable[[], T], timeout: float, interval: float = 0.05) -> T:
    """``probe()`` once it is truthy, or its last value when ``timeout`` runs out."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# --- a supervised serve ----------------------------------------------------------------------


class Serve:
    """A started ``shoptrack serve`` and the workers seen under it (none may outlive a test)."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.seen: set[int] = set()

    @property
    def pid(self) -> int:
        assert self.server.process is not None
        return self.server.process.pid

    def workers(self) -> list[int]:
        found = [child for child in children(self.pid) if is_worker(child)]
        self.seen.update(found)
        return found

    def one_worker(self, timeout: float = RESTART_TIMEOUT_S) -> int:
        found = wait_for(self.workers, timeout)
        assert len(found) == 1, f"workers of serve: {found}\n{self.server.log_tail()}"
        return found[0]

    def log(self) -> str:
        return self.server.log_tail(chars=1_000_000)

    def wait_log(self, text: str, count: int = 1, timeout: float = RESTART_TIMEOUT_S) -> None:
        seen = wait_for(lambda: self.log().count(text) >= count, timeout)
        assert seen, f"{count} x {text!r} expected in the server log:\n{self.server.log_tail()}"

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.server.url}/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self.server.stop()
        for pid in self.seen:
            if is_worker(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shoptrack.db'}"


@pytest.fixture
def start_serve(sqlite_url: str, tmp_path: Path) -> Iterator[Callable[..., Serve]]:
    """Start ``shoptrack serve`` with extra environment; everything is stopped afterwards."""
    started: list[Serve] = []

    def start(**env: str) -> Serve:
        # A short poll: the event test need not wait the default half second per round.
        server = ServerProcess(
            sqlite_url, tmp_path, env={"SHOPTRACK_PROCESSOR_POLL_INTERVAL_S": "0.1", **env}
        )
        serve = Serve(server)
        started.append(serve)
        server.start()
        return serve

    yield start
    for serve in started:
        serve.close()


# --- the tests -----------------------------------------------------------------------------


def test_serve_starts_one_worker_with_the_url_in_its_environment_only(
    start_serve: Callable[..., Serve], sqlite_url: str
) -> None:
    serve = start_serve()
    worker = serve.one_worker()

    args = cmdline(worker)
    assert args[1:] == ["-m", "shoptrack", "worker", "--exit-with-parent"], args
    assert not any(sqlite_url in arg for arg in args), "the database URL is in the arguments"
    assert "--database-url" not in args
    assert environ(worker).get("SHOPTRACK_DATABASE_URL") == sqlite_url
    serve.wait_log(WORKER_STARTED)
    # Still the same single child: it did not die and get restarted on its way up.
    assert serve.workers() == [worker]
    assert WORKER_DIED not in serve.log()


def test_worker_exits_when_serve_is_killed(start_serve: Callable[..., Serve]) -> None:
    serve = start_serve()
    worker = serve.one_worker()
    serve.wait_log(WORKER_STARTED)

    serve.server.kill()  # SIGKILL: serve stops nothing, only its end of the pipe closes

    assert wait_for(lambda: exited(worker), EXIT_TIMEOUT_S), (
        f"worker {worker} outlived its killed parent: {_stat(worker)}\n{serve.log()}"
    )
    # It stopped by itself, after its batch, rather than dying of something.
    serve.wait_log(WORKER_STOPPED, timeout=EXIT_TIMEOUT_S)


def test_a_killed_worker_is_restarted(start_serve: Callable[..., Serve]) -> None:
    serve = start_serve()
    first = serve.one_worker()
    serve.wait_log(WORKER_STARTED)

    os.kill(first, signal.SIGKILL)

    def replacement() -> list[int]:
        return [pid for pid in serve.workers() if pid != first]

    found = wait_for(replacement, RESTART_TIMEOUT_S)
    assert len(found) == 1, f"no new worker after the kill: {found}\n{serve.log()}"
    assert exited(first)
    assert serve.workers() == found, "the old worker is still there beside the new one"
    serve.wait_log(f"{WORKER_DIED} (code -{signal.SIGKILL.value})")
    serve.wait_log(WORKER_STARTED, count=2)  # the new one got as far as running
    assert serve.server.process is not None and serve.server.process.poll() is None
    assert serve.healthy()


def test_sigterm_waits_for_the_worker_before_serve_exits(
    start_serve: Callable[..., Serve],
) -> None:
    """A normal stop closes the pipe and waits: when serve has exited, so has (and reaped) its
    worker, after finishing its batch."""
    serve = start_serve()
    worker = serve.one_worker()
    serve.wait_log(WORKER_STARTED)
    process = serve.server.process
    assert process is not None

    process.terminate()
    process.wait(EXIT_TIMEOUT_S + 30)  # stop() kills a worker that hangs for 30 s

    # Reaped by serve itself: neither still running nor a zombie left to init.
    assert _stat(worker) is None, f"worker {worker} after serve exited: {_stat(worker)}"
    assert WORKER_STOPPED in serve.log()
    assert WORKER_DIED not in serve.log()


def test_no_worker_when_processors_are_off(start_serve: Callable[..., Serve]) -> None:
    serve = start_serve(SHOPTRACK_RUN_PROCESSORS="false")
    # serve starts its worker before it listens: healthy without one means none at all (its
    # other children, if any, are HTTP workers: --workers, one per core by default).
    assert serve.workers() == []
    assert serve.healthy()
    assert serve.workers() == []


def test_the_worker_processes_collected_events(
    start_serve: Callable[..., Serve], sqlite_url: str
) -> None:
    engine = migrated_engine(sqlite_url)
    try:
        site, _key = SiteRepository(engine).create("Worker shop", f"wp-{secrets.token_hex(4)}")
        serve = start_serve()
        worker = serve.one_worker()

        sent = browser_event("PageView")
        response = httpx.post(
            f"{serve.server.url}/webevent",
            content=orjson.dumps(webevent_body(site.site_id, sent)),
            headers={"Content-Type": "text/plain"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        with engine.connect() as conn:
            seq = conn.execute(
                select(events.c.seq).where(
                    events.c.site_id == site.site_id, events.c.event_id == sent["id"]
                )
            ).scalar_one()

        def positions() -> dict[str, int]:
            with engine.connect() as conn:
                rows = conn.execute(select(processor_cursors.c.name, processor_cursors.c.position))
                return {str(name): int(position) for name, position in rows}

        def caught_up() -> bool:
            now = positions()
            return all(now.get(name, 0) >= seq for name in PROCESSORS)

        assert wait_for(caught_up, PROCESSED_TIMEOUT_S, interval=0.1), (
            f"cursors {positions()} never reached seq {seq}\n{serve.log()}"
        )
        # serve itself runs no processor: the one worker, never restarted, did it.
        assert serve.workers() == [worker]
        assert WORKER_DIED not in serve.log()
    finally:
        engine.dispose()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_whole_group_stops_both_in_order(
    start_serve: Callable[..., Serve], signum: signal.Signals
) -> None:
    """systemd's stop and Ctrl-C signal every process: the worker must not race serve's
    shutdown (it crashed on its stdin lock, and serve took that for a death and restarted it)."""
    serve = start_serve()
    worker = serve.one_worker()
    serve.wait_log(WORKER_STARTED)
    process = serve.server.process
    assert process is not None

    os.kill(worker, signum)
    process.send_signal(signum)
    process.wait(EXIT_TIMEOUT_S + 30)

    assert _stat(worker) is None, f"worker {worker} after serve exited: {_stat(worker)}"
    log = serve.log()
    assert WORKER_STOPPED in log
    assert WORKER_DIED not in log
    assert "Fatal Python error" not in log
