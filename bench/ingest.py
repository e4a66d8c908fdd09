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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import orjson

from _store import postgres_schema

HOST = "127.0.0.1"
EVENT_PATH = "/webevent"
BATCH_SIZE = 20
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
_ID_MARK = "@@EVENT-ID@@"
_CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- request bodies -----------------------------------------------------------------------
def _event_templates() -> list[dict[str, Any]]:
    """What a shop's pages send, in the shapes of the tracker (tracker/eS.js)."""
    return [
        {
            "style": "sendEvent",
            "name": "ProductPage",
            "payload": {
                "ProductPage": {
                    "productKey": "24-MB02",
                    "price": "754 USD",
                    "isInStock": 1,
                    "tag_color": "black",
                }
            },
        },
        {"style": "sendEvent", "name": "PageView"},
        {
            "style": "sendEvent",
            "name": "CategoryPage",
            "payload": {"CategoryPage": {"Category": {"categoryKey": "bags"}}},
        },
        {
            "style": "sendEventWithTags",
            "name": "StatusCart",
            "payload": {
                "StatusCart": {
                    "GUID": "cart-0001",
                    "Products": [
                        {"productKey": "24-MB02", "price": 59.0, "quantity": 1},
                        {"productKey": "24-WB04", "price": "32.50", "quantity": 2},
                    ],
                },
                "Tags": {"campaign": ["spring"]},
            },
        },
        {
            "style": "sendEvent",
            "name": "SearchRequest",
            "payload": {"SearchRequest": {"search": "leather bag", "isFound": 1}},
        },
        {
            "style": "sendEvent",
            "name": "ProductImpression",
            "payload": {
                "ProductImpression": {
                    "Products": [
                        {"product_id": "24-MB01", "container_type": "recs-home"},
                        {"product_id": "24-MB03", "container_type": "recs-home"},
                        {"product_id": "24-MB04", "container_type": "recs-home"},
                    ]
                }
            },
        },
    ]


class BodyMaker:
    """Request bodies with fresh event ids, built by joining pre-rendered parts (cheap)."""

    def __init__(self, site_id: str, events_per_request: int, connection: int) -> None:
        now = int(time.time() * 1000)
        templates = _event_templates()
        events = []
        for index in range(events_per_request):
            event = dict(templates[index % len(templates)])
            event["id"] = _ID_MARK
            event["time"] = now
            events.append(event)
        body = {
            "v": 1,
            "site_id": site_id,
            "visitor_id": f"bench-visitor-{connection}",
            "session_id": f"bench-session-{connection}",
            "sent_at": now,
            "page": {
                "url": "https://shop.example/bags/24-MB02.html?sc_content=recs-home",
                "referrer": "https://shop.example/bags.html",
                "title": "Joust Duffle Bag",
            },
            "general": {"lang": "en"},
            "dropped": 0,
            "events": events,
        }
        self._parts = orjson.dumps(body).split(_ID_MARK.encode())
        self._prefix = f"b{secrets.token_hex(4)}c{connection}n"
        self._count = 0
        self.events_per_request = events_per_request

    def next(self) -> bytes:
        self._count += 1
        stem = f"{self._prefix}{self._count}e".encode()
        parts = self._parts
        out = [parts[0]]
        for index in range(1, len(parts)):
            out.append(stem + str(index).encode())
            out.append(parts[index])
        return b"".join(out)


def request_head(port: int, content_length: int) -> bytes:
    return (
        f"POST {EVENT_PATH} HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        f"User-Agent: {USER_AGENT}\r\n"
        "Content-Type: text/plain;charset=UTF-8\r\n"
        "Origin: https://shop.example\r\n"
        "Accept: */*\r\n"
        f"Content-Length: {content_length}\r\n\r\n"
    ).encode()


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


def _proc_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and all its threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and of its live children (serve's processor worker)."""
    total = _proc_cpu_seconds(pid)
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in children.read_text().split():
            with contextlib.suppress(OSError, IndexError, ValueError):
                total += _proc_cpu_seconds(int(child))
    return total


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


def empty_app() -> Any:
    """The empty handler: a minimal Starlette app answering a POST with a tiny JSON."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def empty(_request: Request) -> Response:
        return Response(b'{"ok":true}', media_type="application/json")

    async def healthz(_request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    routes = [Route(EVENT_PATH, empty, methods=["POST"]), Route("/healthz", healthz)]
    return Starlette(routes=routes)


def serve_empty(port: int) -> None:
    """The empty handler on the same uvicorn, with the same options."""
    import uvicorn

    from shoptrack.cli.main import UVICORN_OPTIONS

    uvicorn.run(empty_app(), host=HOST, port=port, log_level="warning", **UVICORN_OPTIONS)


def _base_env(workdir: Path, database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "SHOPTRACK_DATABASE_URL": database_url,
        "SHOPTRACK_KEY_FILE": str(workdir / "shoptrack.keys"),
        "SHOPTRACK_LOG_LEVEL": "warning",
    }


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
    server_cpu0, client_cpu0 = _tree_cpu_seconds(server.pid), _proc_cpu_seconds(worker.pid)
    measured0 = time.monotonic()
    time.sleep(max(0.0, plan.window_end - time.monotonic()))
    server_cpu1, client_cpu1 = _tree_cpu_seconds(server.pid), _proc_cpu_seconds(worker.pid)
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
            serve = [sys.executable, "-m", "shoptrack", "serve", *shlex.split(args.serve_args)]
            server = Server(store, serve, workdir, env)
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
                [sys.executable, script, "--serve-empty"],
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
        f"`shoptrack serve` options: {args.serve_args or '(the defaults)'}.",
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
        default="",
        help="more `shoptrack serve` options, e.g. '--workers 2 --http granian'",
    )
    parser.add_argument("--serve-empty", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_empty:
        serve_empty(args.port)
        return 0
    load_before = os.getloadavg()[0]
    results, problems, drains = run(args)
    print_table(results, args, problems, (load_before, os.getloadavg()[0]), drains)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
