"""Where one ``POST /webevent`` request's CPU goes, stage by stage, without the network.

Run it from the repository root (not a test)::

    python bench/ingest_budget.py [--events 1] [--requests 6000]

``bench/ingest.py`` measures throughput over loopback, where the load generator shares the
two cores and every figure moves by ±15 % from run to run. This script asks a narrower and
steadier question: how much CPU does each part of the collector's work cost per request? It
calls the ASGI applications directly on one event loop (uvloop, as the server uses), with
32 requests in flight as the load generator keeps them, and times CPU per request for:

1. the empty handler of ``ingest.py`` (the same Starlette app, called in-process);
2. shoptrack's ingestion dispatch answering a fixed JSON (``IngestionEndpoints.serve``);
3. + reading the body, parsing it, checking the limits, the envelope and the site;
4. + building, normalizing and serializing each event (the row as it would be stored);
5. the whole ``/webevent`` request: + the group commit to SQLite (WAL, synchronous=FULL).

Stages 2-4 plug a handler made of the collector's own functions into the real dispatch; stage
5 is the real application. "loop thread" is the CPU of the event loop's thread alone (it
bounds throughput: one thread runs every request); "process" adds the commit thread.
"requests/s" and "rows/commit" are those of this in-process loop: its clients answer without
a network round trip, so they come back in step and fill every group; they compare stages
here, they are not the server's throughput (``ingest.py`` measures that).

Through uvicorn every request also costs uvicorn's own parsing and writing, ``U``, the same
for the empty handler and the collector. With ``e`` and ``c`` the loop-thread costs of stage 1
and stage 5, single-event throughput reaches half the empty handler's only if
``(U + e) / (U + c) >= 0.5``, i.e. ``U >= c - 2e``. The script prints that bound: compare it
with the empty handler's whole per-request CPU in ``ingest.py``'s table, which is ``U + e``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from ingest import EVENT_PATH, USER_AGENT, BodyMaker, empty_app, hot_path
from shoptrack.cli.main import tune_garbage_collector
from shoptrack.collector.limits import may_hold_unstorable
from shoptrack.collector.pipeline import RequestMeta, build_event, to_row
from shoptrack.collector.service import Candidate
from shoptrack.collector.wire import read_webevent
from shoptrack.config import Settings
from shoptrack.store.sites_repo import SiteRepository
from shoptrack.web.app import create_app
from shoptrack.web.ingest import Endpoint, Reply, collector_of

Call = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
CONCURRENCY = 32


@dataclass
class StageResult:
    name: str
    loop_us: float
    process_us: float
    requests_per_s: float
    rows_per_commit: float | None = None


def request_scope(body: bytes, client_port: int) -> dict[str, Any]:
    """The scope uvicorn builds for the load generator's request (bench/ingest.py)."""
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", USER_AGENT.encode()),
        (b"content-type", b"text/plain;charset=UTF-8"),
        (b"origin", b"https://shop.example"),
        (b"accept", b"*/*"),
        (b"content-length", str(len(body)).encode()),
    ]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", client_port),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": EVENT_PATH,
        "raw_path": EVENT_PATH.encode(),
        "query_string": b"",
        "headers": headers,
        "state": {},
    }


class Exchange:
    """One request's receive and send: the body in one message, the answer's status kept."""

    def __init__(self, body: bytes) -> None:
        self._body: bytes | None = body
        self.status = 0

    async def receive(self) -> dict[str, Any]:
        if self._body is None:
            return {"type": "http.disconnect"}
        body, self._body = self._body, None
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]


async def run_stage(name: str, call: Call, bodies: list[bytes]) -> StageResult:
    """One request per body, CONCURRENCY at a time; CPU per request of the loop thread and all.

    The bodies are made beforehand: making them is the load generator's work, not ours.
    """
    share = len(bodies) // CONCURRENCY

    async def client(index: int) -> None:
        for body in bodies[index * share : (index + 1) * share]:
            exchange = Exchange(body)
            await call(request_scope(body, 40000 + index), exchange.receive, exchange.send)
            if exchange.status != 200:
                raise RuntimeError(f"{name}: answered {exchange.status}")

    started = (time.thread_time(), time.process_time(), time.perf_counter())
    await asyncio.gather(*(client(index) for index in range(CONCURRENCY)))
    done = share * CONCURRENCY
    loop_s, process_s, wall_s = (
        now - then
        for now, then in zip(
            (time.thread_time(), time.process_time(), time.perf_counter()), started, strict=True
        )
    )
    return StageResult(name, loop_s / done * 1e6, process_s / done * 1e6, done / wall_s)


async def _read(request: Any) -> tuple[Any, RequestMeta, list[Candidate]]:
    """The collector's steps before any event is built, as routes.webevent takes them."""
    collector = collector_of(request)
    meta = collector.request_meta(request)
    settings = collector.settings
    body, raw = await collector.read_json(
        request, settings.max_body_bytes, settings.max_events_per_batch
    )
    site_id, candidates, _envelope = read_webevent(
        body,
        settings.max_events_per_batch,
        meta.received_ms,
        check_strings=may_hold_unstorable(raw),
    )
    if not await collector.sites.exists(site_id):
        raise RuntimeError(f"site {site_id} does not exist")
    return collector, meta, candidates


async def fixed_answer(_request: Any) -> Reply:
    return Reply.json(200, {"ok": True})


async def read_only(request: Any) -> Reply:
    await _read(request)
    return Reply.json(200, {"ok": True})


async def read_and_build(request: Any) -> Reply:
    collector, meta, candidates = await _read(request)
    for candidate in candidates:
        assert candidate.incoming is not None, candidate.error
        event = build_event(
            candidate.incoming,
            meta,
            collector.pipeline_config,
            collector.keyring,
            collector.sessionizer,
        )
        to_row(event, collector.keyring)
    return Reply.json(200, {"ok": True})


async def measure(events: int, requests: int, workdir: Path) -> list[StageResult]:
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'shoptrack.db'}",
        key_file=workdir / "shoptrack.keys",
        run_processors=False,
    )
    app = create_app(settings)
    empty = empty_app()
    results: list[StageResult] = []
    async with app.router.lifespan_context(app):
        engine = app.state.services.engine
        site, _key = SiteRepository(engine).create("budget")
        makers = [BodyMaker(site.site_id, events, index) for index in range(CONCURRENCY)]

        def each_connection_in_turn() -> Iterator[bytes]:
            while True:
                yield from (maker.next() for maker in makers)

        bodies = each_connection_in_turn()

        def through_dispatch(handler: Callable[[Any], Awaitable[Reply]]) -> Call:
            endpoint = Endpoint("/webevent", {"POST": handler})

            async def call(scope: dict[str, Any], receive: Any, send: Any) -> None:
                scope["app"] = app
                await app.ingestion.serve(endpoint, scope, receive, send)

            return call

        stages: list[tuple[str, Call]] = [
            ("1 empty handler (Starlette)", empty),
            ("2 ingestion dispatch, fixed answer", through_dispatch(fixed_answer)),
            ("3 + read, parse, limits, envelope, site", through_dispatch(read_only)),
            ("4 + build and serialize the events", through_dispatch(read_and_build)),
            ("5 whole /webevent: + SQLite group commit", app),
        ]
        tune_garbage_collector()
        for name, call in stages:
            await run_stage(name, call, list(islice(bodies, CONCURRENCY * 10)))  # warm-up
            timed = list(islice(bodies, requests))
            writer = app.state.services.writer
            commits, rows = writer.commits, writer.committed_rows
            result = await run_stage(name, call, timed)
            if writer.commits > commits:
                result.rows_per_commit = (writer.committed_rows - rows) / (writer.commits - commits)
            results.append(result)
    return results


def print_results(results: list[StageResult], events: int) -> None:
    from rich.console import Console
    from rich.table import Table

    empty = results[0].loop_us
    table = Table(
        title=f"CPU per POST /webevent request of {events} event(s), in-process",
        title_justify="left",
    )
    columns = ("stage", "loop thread µs", "added µs", "× empty", "process µs", "requests/s")
    for column in (*columns, "rows/commit"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    previous = 0.0
    for result in results:
        table.add_row(
            result.name,
            f"{result.loop_us:.1f}",
            f"{result.loop_us - previous:+.1f}" if previous else "",
            f"{result.loop_us / empty:.2f}",
            f"{result.process_us:.1f}",
            f"{result.requests_per_s:,.0f}",
            f"{result.rows_per_commit:.1f}" if result.rows_per_commit else "",
        )
        previous = result.loop_us
    console = Console(width=110)
    console.print(table)
    whole = results[-1].loop_us
    console.print(
        f"- shoptrack's hot path: {hot_path()}; {CONCURRENCY} requests in flight; uvloop; CPU per "
        "request over the timed requests, after a warm-up.\n"
        f"- half the empty handler's throughput needs uvicorn's own cost per request U >= "
        f"c - 2e = {whole:.1f} - 2 x {empty:.1f} = {whole - 2 * empty:.1f} µs; ingest.py's "
        "'CPU µs/event' of the empty handler's single row is U + e."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1, help="events per request (1 or 20)")
    parser.add_argument("--requests", type=int, default=6000, help="timed requests per stage")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        runner: Callable[[Any], Any] = asyncio.run
    else:
        runner = uvloop.run
    with tempfile.TemporaryDirectory(prefix="shoptrack-budget-") as tmp:
        os.environ["SHOPTRACK_LOG_LEVEL"] = "warning"
        results = runner(measure(args.events, args.requests, Path(tmp)))
    print_results(results, args.events)
    return 0


if __name__ == "__main__":
    sys.exit(main())
