"""Ingestion benchmark: the real server, driven over loopback, next to an empty handler.

Run it from the repository root (not a test)::

    python bench/ingest.py [--quick] [--postgres postgresql://postgres@127.0.0.1:5432/test]

What it does, in one run:

* starts servers as subprocesses, one process each, with the same uvicorn options
  (``shoptrack.cli.main.UVICORN_OPTIONS``): an *empty handler* (a minimal Starlette app that answers
  any POST with a tiny JSON without reading the body), ``shoptrack serve`` on a SQLite file in
  a temporary directory, and ``shoptrack serve`` on PostgreSQL when ``--postgres`` is given (in
  a fresh schema, dropped afterwards);
* creates a site with ``shoptrack sites create``;
* drives each server from a *separate process* (a raw-socket asyncio client on uvloop with a
  fixed number of keep-alive connections, one request in flight on each) with single-event
  and 20-event ``/webevent`` bodies, each event with a fresh id, for a warm-up and then a
  measured window;
* samples the server's and the client's CPU time over the window (from /proc), so a client
  that became the bottleneck would show, and the server's peak RSS;
* checks that the store holds exactly the events that were acknowledged;
* prints one table with requests/s, events/s, p50/p99 latency and the ratio to the empty
  handler measured with the same body in the same run.

**Open loop** (``--open-loop``, issue 17): the *capacity* of each setup, the highest constant
arrival rate it holds with p99 ≤ 50 ms, no error and every acknowledged event stored, found by
a short search (``_open_loop.py``: double from a low rate until a step fails, then bisect). The
load is a fixed schedule over many keep-alive connections (256 by default, from
``--generators`` processes), each request's latency counted from its *intended* send time, so
a server that falls behind is seen queueing instead of slowing the client down. Setups::

    python bench/ingest.py --open-loop --postgres postgresql://postgres@127.0.0.1:5432/test
    python bench/ingest.py --open-loop --setup empty --setup "collector sqlite --workers 2"
    python bench/ingest.py --open-loop --serve-args "--http granian"   # added to every serve

``--setup`` is ``empty``, ``parse`` (the empty handler reading and parsing the body with
orjson) or ``collector|serve sqlite|postgres`` followed by any ``shoptrack serve`` arguments;
the default is empty, parse, collector sqlite and (with ``--postgres``) collector postgres,
with the empty handler measured again last. ``--serve-args`` (repeatable) also applies to the
closed-loop mode. ``--json PATH`` writes the rows, to compare runs.

Only 127.0.0.1 is used. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import queue
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import orjson

from _bodies import BATCH_SIZE as BATCH_SIZE
from _bodies import EVENT_PATH as EVENT_PATH
from _bodies import HOST as HOST
from _bodies import USER_AGENT as USER_AGENT
from _bodies import BodyMaker as BodyMaker
from _bodies import request_head
from _open_loop import (
    Capacity,
    Generators,
    StepResult,
    find_capacity,
    proc_cpu_seconds,
    tree_cpu_seconds,
)
from _store import postgres_schema


# --- the load generator (runs in its own process) ------------------------------------------
@dataclass
class LoadPlan:
    port: int
    site_id: str
    events_per_request: int
    concurrency: int
    window_start: float  # time.monotonic() values: the same clock in every process
    window_end: float


@dataclass
class LoadResult:
    requests: int = 0  # completed inside the window
    events: int = 0
    latencies_ns: list[int] = field(default_factory=list)
    ok_total: int = 0  # 200 answers in the whole run, warm-up included
    ok_events_total: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    error_sample: str = ""


class _Connection(asyncio.Protocol):
    def __init__(
        self, plan: LoadPlan, result: LoadResult, maker: BodyMaker, done: asyncio.Future[None]
    ) -> None:
        self._plan = plan
        self._result = result
        self._maker = maker
        self._done = done
        self._buffer = b""
        self._sent_ns = 0
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._done.done():
            errors = self._result.errors
            errors["connection lost"] = errors.get("connection lost", 0) + 1
            self._done.set_result(None)

    def _send(self) -> None:
        assert self._transport is not None
        if time.monotonic() >= self._plan.window_end:
            self._transport.close()
            if not self._done.done():
                self._done.set_result(None)
            return
        body = self._maker.next()
        self._sent_ns = time.monotonic_ns()
        self._transport.write(request_head(self._plan.port, len(body)) + body)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        head_end = self._buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = self._buffer[:head_end].lower()
        marker = head.find(b"content-length:")
        if marker < 0:
            raise RuntimeError("response without content-length")
        line_end = head.find(b"\r\n", marker)
        length = int(head[marker + 15 : line_end if line_end >= 0 else len(head)])
        if len(self._buffer) < head_end + 4 + length:
            return
        body = self._buffer[head_end + 4 : head_end + 4 + length]
        self._buffer = self._buffer[head_end + 4 + length :]
        self._completed(head, body)
        self._send()

    def _completed(self, head: bytes, body: bytes) -> None:
        now_ns = time.monotonic_ns()
        result = self._result
        status = head[9:12].decode()
        if status == "200":
            result.ok_total += 1
            result.ok_events_total += self._maker.events_per_request
        else:
            result.errors[status] = result.errors.get(status, 0) + 1
            result.error_sample = result.error_sample or body[:300].decode("utf-8", "replace")
            return
        now = now_ns / 1e9
        if self._plan.window_start <= now <= self._plan.window_end:
            result.requests += 1
            result.events += self._maker.events_per_request
            result.latencies_ns.append(now_ns - self._sent_ns)


async def _drive(plan: LoadPlan) -> LoadResult:
    loop = asyncio.get_running_loop()
    result = LoadResult()
    done: list[asyncio.Future[None]] = []
    for index in range(plan.concurrency):
        future: asyncio.Future[None] = loop.create_future()
        maker = BodyMaker(plan.site_id, plan.events_per_request, index)
        await loop.create_connection(
            lambda m=maker, f=future: _Connection(plan, result, m, f),
            HOST,
            plan.port,
        )
        done.append(future)
    await asyncio.wait_for(asyncio.gather(*done), timeout=plan.window_end - time.monotonic() + 30)
    return result


def load_worker(plan: LoadPlan, results: Any) -> None:
    """Entry point of the client process: drive the plan, send back a LoadResult."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        pass
    # A plain dict: classes of a spawned __main__ do not unpickle in the parent.
    results.put(asdict(asyncio.run(_drive(plan))))


# --- servers ------------------------------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _proc_peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    def __init__(self, name: str, argv: list[str], workdir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.port = _free_port()
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self._argv = [*argv, "--port", str(self.port)]
        self._env = env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self._argv, cwd=self.workdir, env=self._env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start:\n{self.log_tail()}")

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def empty_app(read_body: bool = False) -> Any:
    """The empty handler: a minimal Starlette app answering a POST with a tiny JSON.

    With read_body, the *parse* baseline: it also reads the whole body and parses it with
    orjson, the least any collector must do with a request."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def empty(_request: Request) -> Response:
        return Response(b'{"ok":true}', media_type="application/json")

    async def parse(request: Request) -> Response:
        orjson.loads(await request.body())
        return Response(b'{"ok":true}', media_type="application/json")

    async def healthz(_request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    handler = parse if read_body else empty
    routes = [Route(EVENT_PATH, handler, methods=["POST"]), Route("/healthz", healthz)]
    return Starlette(routes=routes)


def serve_empty(port: int, read_body: bool = False) -> None:
    """The empty (or parse) handler on the same uvicorn, with the same options."""
    import uvicorn

    from shoptrack.cli.main import UVICORN_OPTIONS

    uvicorn.run(empty_app(read_body), host=HOST, port=port, log_level="warning", **UVICORN_OPTIONS)


def _base_env(workdir: Path, database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "SHOPTRACK_DATABASE_URL": database_url,
        "SHOPTRACK_KEY_FILE": str(workdir / "shoptrack.keys"),
        "SHOPTRACK_LOG_LEVEL": "warning",
    }


def serve_command(serve_args: list[str]) -> list[str]:
    """``shoptrack serve`` with these arguments, in one HTTP process unless they say otherwise.

    serve's own default is one process per core; the empty handler it is compared with runs
    in one, and on a 2-core machine a second server process would take the load generator's
    core. ``--workers N`` in the arguments measures N.
    """
    workers = [] if any(a.startswith("--workers") for a in serve_args) else ["--workers", "1"]
    return [sys.executable, "-m", "shoptrack", "serve", *workers, *serve_args]


def create_site(workdir: Path, database_url: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "shoptrack", "sites", "create", "Bench shop"],
        cwd=workdir,
        env=_base_env(workdir, database_url),
        capture_output=True,
        check=True,
    )
    site_id: str = orjson.loads(out.stdout.strip().splitlines()[-1])["site_id"]
    return site_id


def stored_events(database_url: str, site_id: str) -> int:
    from shoptrack.store.db import create_store_engine
    from shoptrack.store.events_repo import EventLog

    engine = create_store_engine(database_url, null_pool=True)
    try:
        return EventLog(engine).count(site_id)
    finally:
        engine.dispose()


# --- one measured case --------------------------------------------------------------------
@dataclass
class CaseResult:
    case: str
    store: str
    concurrency: int
    seconds: float
    requests: int
    events: int
    p50_ms: float
    p99_ms: float
    server_cpu: float  # share of one core over the window
    client_cpu: float
    server_rss_mb: float
    errors: dict[str, int]
    error_sample: str
    ok_events_total: int

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds

    @property
    def server_cpu_us_per_event(self) -> float:
        """Server CPU time per event: steadier than throughput on a busy machine."""
        return self.server_cpu * self.seconds / max(self.events, 1) * 1e6


def _percentile(sorted_values: list[int], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index] / 1e6


def _result_of(worker: Any, results: Any, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            answer: dict[str, Any] = results.get(timeout=0.2)
            return answer
        if not worker.is_alive():
            raise RuntimeError(f"the load generator exited with code {worker.exitcode}")
    raise RuntimeError("the load generator did not finish")


def run_case(
    server: Server,
    case: str,
    store: str,
    site_id: str,
    events_per_request: int,
    concurrency: int,
    warmup: float,
    duration: float,
) -> CaseResult:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    start_margin = 1.0  # the client process needs a moment to import and connect
    window_start = time.monotonic() + start_margin + warmup
    plan = LoadPlan(
        server.port,
        site_id,
        events_per_request,
        concurrency,
        window_start,
        window_start + duration,
    )
    worker = ctx.Process(target=load_worker, args=(plan, results), name=f"load-{case}-{store}")
    worker.start()
    assert worker.pid is not None
    time.sleep(max(0.0, window_start - time.monotonic()))
    server_cpu0, client_cpu0 = tree_cpu_seconds(server.pid), proc_cpu_seconds(worker.pid)
    measured0 = time.monotonic()
    time.sleep(max(0.0, plan.window_end - time.monotonic()))
    server_cpu1, client_cpu1 = tree_cpu_seconds(server.pid), proc_cpu_seconds(worker.pid)
    measured = time.monotonic() - measured0
    result = LoadResult(**_result_of(worker, results, timeout=60))
    worker.join(30)
    latencies = sorted(result.latencies_ns)
    return CaseResult(
        case=case,
        store=store,
        concurrency=concurrency,
        seconds=duration,
        requests=result.requests,
        events=result.events,
        p50_ms=_percentile(latencies, 0.50),
        p99_ms=_percentile(latencies, 0.99),
        server_cpu=(server_cpu1 - server_cpu0) / measured,
        client_cpu=(client_cpu1 - client_cpu0) / measured,
        server_rss_mb=_proc_peak_rss_mb(server.pid),
        errors=result.errors,
        error_sample=result.error_sample,
        ok_events_total=result.ok_events_total,
    )


# --- the run ------------------------------------------------------------------------------
CASES = (("single", 1), (f"batch {BATCH_SIZE}", BATCH_SIZE))


def run(args: argparse.Namespace) -> tuple[list[CaseResult], list[str], list[str]]:
    problems: list[str] = []
    results: list[CaseResult] = []
    drains: list[str] = []
    warmup, duration = (0.5, 2.0) if args.quick else (args.warmup, args.duration)

    def measure(server: Server, store: str, site_id: str) -> dict[str, CaseResult]:
        by_case: dict[str, CaseResult] = {}
        for case, size in CASES:
            if args.only and case.split()[0] not in args.only:
                continue
            print(f"  {store:<18} {case:<9} ...", end="", flush=True, file=sys.stderr)
            outcome = run_case(
                server, case, store, site_id, size, args.concurrency, warmup, duration
            )
            print(
                f" {outcome.requests_per_s:9.0f} req/s {outcome.events_per_s:9.0f} events/s",
                file=sys.stderr,
            )
            if outcome.errors:
                problems.append(
                    f"{store} {case}: errors {outcome.errors} e.g. {outcome.error_sample!r}"
                )
            by_case[case] = outcome
            results.append(outcome)
        return by_case

    with tempfile.TemporaryDirectory(prefix="shoptrack-bench-") as tmp:
        workdir = Path(tmp)
        script = str(Path(__file__).resolve())

        def measure_store(store: str, setup: str, database_url: str) -> None:
            site_id = create_site(workdir, database_url)
            env = _base_env(workdir, database_url)
            # collector: `shoptrack serve` alone, as large shops run it beside separate
            # workers; serve: the default, with its processor worker as a child process.
            env["SHOPTRACK_RUN_PROCESSORS"] = "false" if setup == "collector" else "true"
            argv = serve_command(args.serve_args)
            server = Server(store, argv, workdir, env)
            server.start()
            try:
                by_case = measure(server, f"{store} {setup}", site_id)
            finally:
                server.stop()
            acknowledged = sum(r.ok_events_total for r in by_case.values())
            stored = stored_events(database_url, site_id)
            if stored != acknowledged:
                problems.append(f"{store}: {acknowledged} events acknowledged but {stored} stored")
            else:
                print(f"  {store}: {stored} events acknowledged and stored", file=sys.stderr)
            if server.process is not None and server.process.returncode not in (
                0,
                None,
                -signal.SIGTERM,  # uvicorn re-raises the signal once it has shut down
            ):
                problems.append(f"{store}: server exited with {server.process.returncode}")
            if setup == "collector":
                drains.append(drain_processors(store, database_url, workdir))

        def measure_empty() -> None:
            empty = Server(
                "empty",
                [sys.executable, script, "--serve-baseline", "empty"],
                workdir,
                _base_env(workdir, "sqlite:///unused.db"),
            )
            empty.start()
            try:
                measure(empty, "empty", "empty-site")
            finally:
                empty.stop()

        # The empty handler is measured first and last: the two tell how much the machine's
        # speed moved during the run, and their mean is the baseline of the ratios.
        measure_empty()

        def database(store: str, setup: str) -> contextlib.AbstractContextManager[str]:
            """A fresh database for each setup: a new file, or a new schema."""
            if store == "sqlite":
                return contextlib.nullcontext(f"sqlite:///{workdir / f'{setup}.db'}")
            return postgres_schema(args.postgres)

        stores = [] if "sqlite" in args.skip else ["sqlite"]
        if args.postgres and "postgres" not in args.skip:
            stores.append("postgresql")
        for store in stores:
            for setup in args.setups:
                with database(store, setup) as database_url:
                    measure_store(store, setup, database_url)
        measure_empty()
    return results, problems, drains


def drain_processors(store: str, database_url: str, workdir: Path) -> str:
    """How fast one worker catches up with what the collector stored (all processors)."""
    from shoptrack.config import Settings
    from shoptrack.identity.crypto import Keyring
    from shoptrack.processing.builtin import build_runner
    from shoptrack.services import open_store

    settings = Settings(database_url=database_url, key_file=workdir / "shoptrack.keys")
    engine, event_log, _ = open_store(settings)
    try:
        backlog = event_log.count()
        runner = build_runner(
            settings, engine, Keyring.load_or_create(settings.key_file, settings.encryption_keys)
        )
        started = time.perf_counter()
        runner.drain(timeout_s=900)
        took = time.perf_counter() - started
    finally:
        engine.dispose()
    names = ", ".join(p.name for p in runner.processors)
    return (
        f"processors on {store} ({names}): one worker caught up with the collector's "
        f"{backlog:,} events in {took:.1f} s = {backlog / took:,.0f} events/s"
    )


def hot_path() -> str:
    """Whether this environment's shoptrack has its hot path compiled (setup.py, mypyc)."""
    import shoptrack.events.normalize

    if shoptrack.events.normalize.__file__.endswith((".so", ".pyd")):
        return "compiled with mypyc (a `pip install .` build)"
    return "plain Python (an editable install; `pip install .` compiles it)"


def _stack() -> str:
    """The server stack as uvicorn's "auto" choices will find it here."""
    import importlib.util

    import uvicorn

    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"uvicorn {uvicorn.__version__} with {loop} and {http}"


def print_table(
    results: list[CaseResult],
    args: argparse.Namespace,
    problems: list[str],
    load: tuple[float, float],
    drains: list[str],
) -> None:
    from rich.console import Console
    from rich.table import Table

    baselines: dict[str, list[float]] = {}
    for r in results:
        if r.store == "empty":
            baselines.setdefault(r.case, []).append(r.requests_per_s)
    empty = {case: sum(values) / len(values) for case, values in baselines.items()}
    duration = 2.0 if args.quick else args.duration
    table = Table(title="shoptrack ingestion: POST /webevent over loopback", title_justify="left")
    for name in ("case", "store", "conc"):
        table.add_column(name)
    for name in (
        "requests/s",
        "events/s",
        "p50 ms",
        "p99 ms",
        "vs empty",
        "server CPU",
        "CPU µs/event",
        "client CPU",
        "server RSS MB",
    ):
        table.add_column(name, justify="right")
    for r in results:
        baseline = empty.get(r.case)
        ratio = r.requests_per_s / baseline if baseline else float("nan")
        table.add_row(
            r.case,
            r.store,
            str(r.concurrency),
            f"{r.requests_per_s:,.0f}",
            f"{r.events_per_s:,.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            f"{ratio:.2f}",
            f"{r.server_cpu:.0%}",
            f"{r.server_cpu_us_per_event:.0f}",
            f"{r.client_cpu:.0%}",
            f"{r.server_rss_mb:.0f}",
        )
    console = Console(width=150)
    console.print(table)
    cores = os.cpu_count()
    commit_interval = os.environ.get("SHOPTRACK_COMMIT_INTERVAL_MS", "default")
    notes = [
        f"{cores} CPU cores, shared by the server and the load generator; absolute numbers are "
        "noisy, the ratio to the empty handler of the same run is what counts.",
        f"{duration:g} s measured per case after a warm-up; one server process ({_stack()}, "
        "shoptrack.cli.main.UVICORN_OPTIONS); one client process with "
        f"{args.concurrency} keep-alive "
        f"connections, one request in flight each; niceness {os.nice(0)}. shoptrack's hot path: "
        f"{hot_path()}.",
        "empty = a minimal Starlette app on the same uvicorn options that answers a tiny JSON "
        "without reading the body, measured first and last; 'vs empty' = requests/s over the "
        "mean of the empty handler's two runs with the same body.",
        "sqlite = a file in a temporary directory, WAL, synchronous=FULL; postgresql = a fresh "
        "schema; every event is acknowledged only after its group commit "
        f"(SHOPTRACK_COMMIT_INTERVAL_MS={commit_interval}).",
        "collector = `shoptrack serve` with SHOPTRACK_RUN_PROCESSORS=false: the collector process "
        "alone, as it runs beside separate workers (the aims are judged on these rows); serve = "
        "the default, whose processor worker runs as a child process on the same two cores as "
        "the server and the load generator.",
        "server CPU = share of one core over the window (all threads of serve and of its worker "
        "child); CPU µs/event = that CPU time per event; RSS = serve's peak.",
        f"1-minute load average {load[0]:.1f} before the run, {load[1]:.1f} after: anything "
        "above 2 means other work shared the cores.",
    ]
    for note in notes:
        console.print(f"- {note}", highlight=False)
    singles = [r for r in results if r.case == "single" and r.store != "empty"]
    batches = [r for r in results if r.case != "single" and r.store.startswith("sqlite")]
    base_single = empty.get("single")
    for r in singles:
        if base_single:
            share = r.requests_per_s / base_single
            verdict = "met" if share >= 0.5 else "NOT met"
            console.print(
                f"- aim single-event ≥ 0.5 × empty on {r.store}: {share:.2f} ({verdict})",
                highlight=False,
            )
    for r in batches:
        verdict = "met" if r.events_per_s >= 20_000 else "NOT met"
        console.print(
            f"- aim batched ≥ 20,000 events/s on {r.store}: {r.events_per_s:,.0f} ({verdict})",
            highlight=False,
        )
    for drain in drains:
        console.print(f"- {drain}", highlight=False)
    for problem in problems:
        console.print(f"[red]problem:[/red] {problem}", highlight=False)


# --- open loop: the capacity of each setup ---------------------------------------------------
P99_BOUND_MS = 50.0
START_RATES = {1: 1000.0, BATCH_SIZE: 250.0}  # requests/s: the first step of each search


@dataclass
class Setup:
    """What one capacity search runs against: ``empty``, ``parse``, or ``collector``/``serve``
    on ``sqlite``/``postgres`` with extra ``shoptrack serve`` arguments."""

    kind: str
    store: str = ""
    serve_args: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return " ".join([self.kind, self.store, *self.serve_args]).replace("  ", " ").strip()


def parse_setup(spec: str, serve_args: list[str]) -> Setup:
    """``"collector sqlite --workers 2"`` -> Setup; serve_args are added to every serve."""
    words = shlex.split(spec)
    if not words or words[0] not in ("empty", "parse", "collector", "serve"):
        raise SystemExit(f"--setup {spec!r}: starts with empty, parse, collector or serve")
    if words[0] in ("empty", "parse"):
        if len(words) > 1:
            raise SystemExit(f"--setup {spec!r}: the {words[0]} handler takes no arguments")
        return Setup(words[0])
    if len(words) < 2 or words[1] not in ("sqlite", "postgres"):
        raise SystemExit(f"--setup {spec!r}: {words[0]} is followed by sqlite or postgres")
    return Setup(words[0], words[1], [*serve_args, *words[2:]])


def default_setups(args: argparse.Namespace) -> list[str]:
    setups = ["empty", "parse", "collector sqlite"]
    if args.postgres:
        setups.append("collector postgres")
    return setups


@dataclass
class CapacityRow:
    setup: str
    case: str
    events_per_request: int
    capacity: Capacity


@contextlib.contextmanager
def running(
    setup: Setup, workdir: Path, postgres_url: str | None, script: str
) -> Iterator[tuple[Server, str, str | None]]:
    """The setup's server, started; yields it, the site id and its database URL (if any)."""
    if setup.kind in ("empty", "parse"):
        argv = [sys.executable, script, "--serve-baseline", setup.kind]
        server = Server(setup.kind, argv, workdir, _base_env(workdir, "sqlite:///unused.db"))
        server.start()
        try:
            yield server, "empty-site", None
        finally:
            server.stop()
        return
    if setup.store == "postgres" and not postgres_url:
        raise SystemExit(f"setup {setup.label!r} needs --postgres URL")
    database: contextlib.AbstractContextManager[str]
    if setup.store == "sqlite":
        name = f"{setup.kind}-{secrets.token_hex(3)}.db"
        database = contextlib.nullcontext(f"sqlite:///{workdir / name}")
    else:
        database = postgres_schema(cast(str, postgres_url))
    with database as database_url:
        site_id = create_site(workdir, database_url)
        env = _base_env(workdir, database_url)
        env["SHOPTRACK_RUN_PROCESSORS"] = "false" if setup.kind == "collector" else "true"
        argv = serve_command(setup.serve_args)
        server = Server(setup.kind, argv, workdir, env)
        server.start()
        try:
            yield server, site_id, database_url
        finally:
            server.stop()


def run_open_loop(args: argparse.Namespace) -> tuple[list[CapacityRow], list[str]]:
    setups = [parse_setup(spec, args.serve_args) for spec in args.setup or default_setups(args)]
    if setups and setups[0].kind == "empty":
        # Measured first and last: the two tell how far the machine's speed moved in the run.
        setups.append(setups[0])
    warmup, window = (0.5, 1.0) if args.quick else (args.warmup_step, args.step)
    rows: list[CapacityRow] = []
    problems: list[str] = []

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    with (
        tempfile.TemporaryDirectory(prefix="shoptrack-bench-") as tmp,
        Generators(args.generators, args.connections) as generators,
    ):
        workdir = Path(tmp)
        for setup in setups:
            with running(setup, workdir, args.postgres, str(Path(__file__).resolve())) as (
                server,
                site_id,
                database_url,
            ):
                acknowledged = 0
                for case, size in CASES:
                    if args.only and case.split()[0] not in args.only:
                        continue
                    log(f"  {setup.label} — {case}")

                    def step(rate: float, size: int = size) -> StepResult:
                        return generators.step(
                            server.pid, server.port, site_id, size, rate, warmup, window
                        )

                    capacity = find_capacity(
                        step,
                        start_rate=args.start_rate or START_RATES[size],
                        p99_bound_ms=P99_BOUND_MS,
                        bisections=args.bisections,
                        max_rate=args.max_rate,
                        log=log,
                        retries=args.retries,
                    )
                    acknowledged += capacity.ok_events_total
                    rows.append(CapacityRow(setup.label, case, size, capacity))
                server.stop()  # all committed: counted before the database goes
                if database_url is not None:
                    stored = stored_events(database_url, site_id)
                    line = f"{setup.label}: {acknowledged:,} events acknowledged, {stored:,} stored"
                    (problems.append if stored != acknowledged else log)(line)
    return rows, problems


def print_capacity_table(
    rows: list[CapacityRow],
    args: argparse.Namespace,
    problems: list[str],
    load: tuple[float, float],
) -> None:
    from rich.console import Console
    from rich.table import Table

    def rate(row: CapacityRow) -> float:
        return row.capacity.best.requests_per_s if row.capacity.best else 0.0

    def mean_of(setup: str) -> dict[str, float]:
        runs: dict[str, list[float]] = {}
        for row in rows:
            if row.setup == setup:
                runs.setdefault(row.case, []).append(rate(row))
        return {case: sum(values) / len(values) for case, values in runs.items()}

    empty = mean_of("empty")
    table = Table(
        title=f"shoptrack capacity: highest arrival rate held with p99 ≤ {P99_BOUND_MS:g} ms, "
        "no error, nothing lost (open loop, POST /webevent over loopback)",
        title_justify="left",
    )
    table.add_column("setup")
    table.add_column("case")
    for name in (
        "requests/s",
        "events/s",
        "vs empty",
        "p50 ms",
        "p99 ms",
        "server CPU",
        "CPU µs/req",
        "generator CPU",
        "steps",
    ):
        table.add_column(name, justify="right")
    for row in rows:
        best = row.capacity.best
        baseline = empty.get(row.case)
        ratio = rate(row) / baseline if baseline else float("nan")
        if best is None:
            table.add_row(row.setup, row.case, "none held", *[""] * 8)
            continue
        table.add_row(
            row.setup,
            row.case,
            f"{best.requests_per_s:,.0f}",
            f"{best.requests_per_s * row.events_per_request:,.0f}",
            f"{ratio:.2f}",
            f"{best.p50_ms:.2f}",
            f"{best.p99_ms:.2f}",
            f"{best.server_cpu:.0%}",
            f"{best.server_cpu_us_per_request:.0f}",
            f"{best.generator_cpu:.0%} (max {best.generator_cpu_max:.0%})",
            str(len(row.capacity.steps)),
        )
    console = Console(width=160)
    console.print(table)
    warmup, window = (0.5, 1.0) if args.quick else (args.warmup_step, args.step)
    notes = [
        f"{os.cpu_count()} CPU cores shared by the server and the load generator; "
        f"1-minute load average {load[0]:.1f} before the run, {load[1]:.1f} after (above 2: "
        "other work shared the cores). Ratios within the run are what counts.",
        f"each step: {warmup:g} s warm-up, then {window:g} s whose requests are judged; the "
        "search doubles the rate from a low start until a step fails, then bisects "
        f"{args.bisections} times; a failed step is run {args.retries} more time(s) before its "
        "rate counts as failed; 'requests/s' is the highest rate held (the answered "
        "requests of that window), p50/p99 are that step's.",
        f"{args.generators} generator process(es), {args.connections} keep-alive connections "
        "in all; latency runs from each request's intended send time (a constant-rate "
        "schedule), so a request waiting for a free connection counts its wait; 'generator "
        "CPU' = all generator processes' share of one core at that step (max = the busiest "
        "process; near 100 % it, not the server, would be the limit).",
        f"one server process per setup ({_stack()}, shoptrack.cli.main.UVICORN_OPTIONS) unless "
        "its serve arguments say otherwise; shoptrack's hot path: "
        f"{hot_path()}. empty = a Starlette handler that answers without reading the body, "
        "measured first and last ('vs empty' is over their mean, same body); parse = the same "
        "handler reading the body and parsing it with orjson.",
        "collector = `shoptrack serve` with SHOPTRACK_RUN_PROCESSORS=false; serve = with its "
        "processor worker child. Every event is acknowledged after its group commit.",
        "server CPU = share of one core at that step (all threads and child processes); CPU "
        "µs/req = that CPU per request: where other work starves the server, rates fall but "
        "this stays, and the ratios of these costs say what the capacities would be if the "
        "server had a core to itself.",
    ]
    for note in notes:
        console.print(f"- {note}", highlight=False)
    for line in capacity_aims(rows, empty):
        console.print(f"- {line}", highlight=False)
    for problem in problems:
        console.print(f"[red]problem:[/red] {problem}", highlight=False)


def capacity_figures(rows: list[CapacityRow]) -> list[dict[str, Any]]:
    """The table's rows as plain values (for --json: comparing runs)."""
    empty: dict[str, list[float]] = {}
    for row in rows:
        if row.setup == "empty" and row.capacity.best:
            empty.setdefault(row.case, []).append(row.capacity.best.requests_per_s)
    figures = []
    for row in rows:
        best = row.capacity.best
        rate = best.requests_per_s if best else 0.0
        baseline = empty.get(row.case)
        figures.append(
            {
                "setup": row.setup,
                "case": row.case,
                "requests_per_s": rate,
                "events_per_s": rate * row.events_per_request,
                "vs_empty": rate / (sum(baseline) / len(baseline)) if baseline else None,
                "p50_ms": best.p50_ms if best else None,
                "p99_ms": best.p99_ms if best else None,
                "server_cpu": best.server_cpu if best else None,
                "server_cpu_us_per_request": best.server_cpu_us_per_request if best else None,
                "generator_cpu": best.generator_cpu if best else None,
                "steps": len(row.capacity.steps),
            }
        )
    return figures


def capacity_aims(rows: list[CapacityRow], empty: dict[str, float]) -> list[str]:
    """Issue 17's aims, judged on the collector rows of this run."""

    def events_per_s(row: CapacityRow) -> float:
        best = row.capacity.best
        return best.requests_per_s * row.events_per_request if best else 0.0

    lines = []
    collectors = [row for row in rows if row.setup.startswith("collector")]
    for row in collectors:
        if row.case == "single" and empty.get("single"):
            share = events_per_s(row) / empty["single"]
            verdict = "holds" if share >= 0.5 else "does NOT hold"
            lines.append(f"aim single ≥ 0.5 × empty on {row.setup}: {share:.2f} ({verdict})")
        if row.case != "single" and "sqlite" in row.setup:
            value = events_per_s(row)
            verdict = "holds" if value >= 25_000 else "does NOT hold"
            lines.append(f"aim batches ≥ 25,000 events/s on {row.setup}: {value:,.0f} ({verdict})")
    for row in collectors:
        if "postgres" not in row.setup:
            continue
        twin = next(
            (
                other
                for other in collectors
                if other.case == row.case
                and other.setup == row.setup.replace("postgres", "sqlite", 1)
            ),
            None,
        )
        if twin is not None and events_per_s(twin):
            share = events_per_s(row) / events_per_s(twin)
            verdict = "holds" if share >= 0.8 else "does NOT hold"
            lines.append(f"aim PostgreSQL ≥ 0.8 × SQLite, {row.case}: {share:.2f} ({verdict})")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 s per case instead of --duration")
    parser.add_argument("--postgres", metavar="URL", help="also measure PostgreSQL at this URL")
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per case")
    parser.add_argument("--warmup", type=float, default=1.5, help="warm-up seconds per case")
    parser.add_argument("--concurrency", type=int, default=32, help="keep-alive connections")
    parser.add_argument(
        "--only", nargs="*", choices=["single", "batch"], help="run only these cases"
    )
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["sqlite", "postgres"], help="stores to skip"
    )
    parser.add_argument(
        "--setups",
        nargs="*",
        default=["collector", "serve"],
        choices=["collector", "serve"],
        help="collector = serve without processors; serve = with its worker child",
    )
    parser.add_argument(
        "--serve-args",
        action="append",
        default=[],
        type=shlex.split,
        metavar="ARGS",
        help='more `shoptrack serve` arguments for every serve setup, e.g. "--workers 2"',
    )
    capacity = parser.add_argument_group(
        "open loop", "the highest constant arrival rate each setup holds (issue 17)"
    )
    capacity.add_argument("--open-loop", action="store_true", help="search capacities")
    capacity.add_argument(
        "--setup",
        action="append",
        metavar="SPEC",
        help='empty | parse | "collector|serve sqlite|postgres [serve args]", repeatable; '
        "default: empty, parse, collector sqlite (and postgres with --postgres)",
    )
    capacity.add_argument("--step", type=float, default=2.0, help="judged seconds per step")
    capacity.add_argument("--warmup-step", type=float, default=0.5, help="warm-up per step")
    capacity.add_argument("--bisections", type=int, default=3, help="after the doubling")
    capacity.add_argument("--retries", type=int, default=1, help="of a failed step")
    capacity.add_argument("--start-rate", type=float, help="requests/s of the first step")
    capacity.add_argument("--max-rate", type=float, default=200_000.0, help="requests/s")
    capacity.add_argument("--generators", type=int, default=1, help="generator processes")
    capacity.add_argument("--connections", type=int, default=256, help="in all generators")
    capacity.add_argument("--json", type=Path, metavar="PATH", help="also write the rows here")
    parser.add_argument("--serve-baseline", choices=["empty", "parse"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.serve_args = [word for words in args.serve_args for word in words]
    if args.serve_baseline:
        serve_empty(args.port, read_body=args.serve_baseline == "parse")
        return 0
    load_before = os.getloadavg()[0]
    if args.open_loop:
        rows, problems = run_open_loop(args)
        print_capacity_table(rows, args, problems, (load_before, os.getloadavg()[0]))
        if args.json:
            args.json.write_bytes(orjson.dumps(capacity_figures(rows), option=orjson.OPT_INDENT_2))
        return 1 if problems else 0
    results, problems, drains = run(args)
    print_table(results, args, problems, (load_before, os.getloadavg()[0]), drains)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
