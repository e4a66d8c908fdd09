"""Recommendation benchmark: training time, and serving latency over HTTP per block type.

Run it from the repository root (not a test)::

    python bench/recommend.py [--products 100000] [--events 1000000] [--seconds 5]

In one run it:

* generates a catalogue (``--products``, CSV feed imported by the real importer: categories,
  brands, colours, item groups, 5 % out of stock) and an event log (``--events``: product views,
  carts and purchases in sessions that stay mostly inside one category, popularity Zipf-like),
  written straight into the ``events`` table of a SQLite store in a temporary directory;
* times ``train_site`` on it (the same code as ``shoptrack train``);
* creates one live block per block type;
* starts ``shoptrack serve`` once per history mode (``--modes``: ``memory``, the default
  settings, visitors' histories kept in memory from the event log; ``store``, with
  ``SHOPTRACK_RECS_HISTORY_ITEMS=0``, the history read from the store per request as before;
  ``redis``, with ``SHOPTRACK_REDIS_URL`` = ``--redis-url``) and an *empty handler* (a minimal
  Starlette app answering a GET with a tiny JSON, same uvicorn options) as subprocesses;
* from a *separate process*, for each block type and the empty handler: sends requests at a
  fixed rate (``--rate``, default 200/s, open loop: each request at its scheduled time on a
  keep-alive connection) for ``--seconds``, and reports p50 / p99 latency; then runs a closed
  loop on 4 keep-alive connections for ``--seconds`` and reports requests/s.

Every request asks for 10 products with a random known visitor (one of 2,000 per block type,
each requested once before measuring) and, where the block needs one, a random product or
category. The table gives each figure as a ratio to the empty handler's, in the same run.
Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import orjson

from shoptrack.recommend.block_rules import BLOCK_ALGORITHMS

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
# Every block type a variant can name, as the block rules define them.
BLOCK_TYPES = BLOCK_ALGORITHMS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# --- data ---------------------------------------------------------------------------------


def write_feed(path: Path, n: int, rng: np.random.Generator) -> None:
    tops = [f"Dept{t}" for t in range(20)]
    lines = ["id,title,link,image_link,price,availability,product_type,brand,color,item_group_id"]
    for i in range(n):
        cat = i % 200
        stock = "out of stock" if rng.random() < 0.05 else "in stock"
        group = f"g{i // 3}" if i % 10 == 0 else ""
        lines.append(
            f"p{i},Product {i},https://shop.example/p/{i},https://shop.example/i/{i}.jpg,"
            f"{10 + (i * 7919) % 490}.00 USD,{stock},{tops[cat % 20]} > Cat{cat},"
            f"Brand{i % 50},Color{i % 10},{group}"
        )
    path.write_text("\n".join(lines) + "\n")


def write_events(engine: Any, site_id: str, n_products: int, n_events: int, seed: int) -> None:
    from shoptrack.store.tables import events

    rng = np.random.default_rng(seed)
    now = int(time.time() * 1000)
    span = 30 * 86400 * 1000
    rows: list[dict[str, Any]] = []
    # Products by category: item i is in category i % 200.
    per_cat = n_products // 200
    written = 0
    session = 0
    with engine.begin() as conn:
        while written < n_events:
            session += 1
            visitor = f"v{rng.integers(0, max(1, n_events // 20))}"
            length = int(min(30, 1 + rng.geometric(0.12)))
            cat = int(rng.zipf(1.6) % 200)
            start = now - int(rng.random() * span)
            items = [cat + 200 * int(min(per_cat - 1, rng.zipf(1.4) - 1)) for _ in range(length)]
            for j, item in enumerate(items):
                kind = "ProductPage"
                products = [{"key": f"p{item}"}]
                roll = rng.random()
                if j > 0 and roll < 0.10:
                    kind = "StatusCart"
                    products = [
                        {"key": f"p{k}", "quantity": 1} for k in items[max(0, j - 2) : j + 1]
                    ]
                elif j > 1 and roll < 0.15:
                    kind = "PurchasedItems"
                    products = [{"key": f"p{k}", "quantity": 1} for k in items[max(0, j - 2) : j]]
                data = {"type": kind, "visitor_id": visitor, "products": products}
                rows.append(
                    {
                        "site_id": site_id,
                        "event_id": f"e{written}",
                        "type": kind,
                        "occurred_at": start + j * 30_000,
                        "received_at": start + j * 30_000,
                        "visitor_id": visitor,
                        "session_id": f"s{session}",
                        "contact_id": None,
                        "source": "browser",
                        "cart_guid": None,
                        "data": orjson.dumps(data).decode(),
                        "identity_enc": None,
                    }
                )
                written += 1
            if len(rows) >= 50_000 or written >= n_events:
                conn.execute(events.insert(), rows)
                rows = []


# --- servers ------------------------------------------------------------------------------


def serve_empty(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from shoptrack.cli.main import UVICORN_OPTIONS

    async def empty(_request: Request) -> Response:
        return Response(b'{"products":[]}', media_type="application/json")

    app = Starlette(routes=[Route("/recs/{site_id}", empty), Route("/healthz", empty)])
    uvicorn.run(app, host=HOST, port=port, log_level="warning", **UVICORN_OPTIONS)


def start(argv: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    proc = subprocess.Popen(argv, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(log.read_text()[-2000:])
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


# --- load (runs in its own process) -------------------------------------------------------


def open_loop(port: int, paths: list[str], rate: float, seconds: float) -> list[float]:
    conn = http.client.HTTPConnection(HOST, port)
    latencies: list[float] = []
    interval = 1.0 / rate
    begin = time.perf_counter()
    n = 0
    while True:
        due = begin + n * interval
        if due - begin > seconds:
            break
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        sent = time.perf_counter()
        conn.request("GET", paths[n % len(paths)])
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
        latencies.append((time.perf_counter() - sent) * 1000)
        n += 1
    return latencies


def closed_loop(port: int, paths: list[str], seconds: float, connections: int = 4) -> float:
    counts = [0] * connections
    stop = time.perf_counter() + seconds

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection(HOST, port)
        i = k
        while time.perf_counter() < stop:
            conn.request("GET", paths[i % len(paths)])
            conn.getresponse().read()
            counts[k] += 1
            i += connections

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def load_process(job: dict[str, Any], out: Any) -> None:
    # Every path once first: each visitor's first request (per recs_history_ttl_s) reads
    # their history from the store; the figures are for the requests after it.
    conn = http.client.HTTPConnection(HOST, job["port"])
    for path in job["paths"]:
        conn.request("GET", path)
        conn.getresponse().read()
    lat = sorted(open_loop(job["port"], job["paths"], job["rate"], job["seconds"]))
    rps = closed_loop(job["port"], job["paths"], job["seconds"])
    out.put(
        {
            "n": len(lat),
            "p50": lat[len(lat) // 2],
            "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            "rps": rps,
        }
    )


def measure(port: int, paths: list[str], rate: float, seconds: float) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(
        target=load_process,
        args=({"port": port, "paths": paths, "rate": rate, "seconds": seconds}, out),
    )
    proc.start()
    result: dict[str, Any] = out.get(timeout=seconds * 4 + 60)
    proc.join(30)
    return result


# --- main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--modes", default="memory,store", help="memory,store,redis")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--serve-empty", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_empty:
        serve_empty(args.serve_empty)
        return

    from shoptrack.catalog.feeds import FeedRepository
    from shoptrack.catalog.importer import FeedImporter
    from shoptrack.config import Settings
    from shoptrack.recommend.blocks import BlockStore
    from shoptrack.recommend.training import train_site
    from shoptrack.services import open_store

    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory(prefix="recs-bench-") as tmp:
        work = Path(tmp)
        url = f"sqlite:///{work / 'bench.db'}"
        settings = Settings(database_url=url, key_file=work / "keys", sqlite_synchronous="NORMAL")
        engine, _, sites = open_store(settings)
        site_id = sites.create("Bench shop")[0].site_id
        t0 = time.perf_counter()
        write_feed(work / "feed.csv", args.products, rng)
        feed = FeedRepository(engine).add(site_id, str(work / "feed.csv"), None, allow_files=True)
        outcome = FeedImporter(engine, settings).run(feed)
        print(
            f"catalogue: {args.products} products imported in {time.perf_counter() - t0:.1f} s "
            f"({outcome.status})"
        )
        t0 = time.perf_counter()
        write_events(engine, site_id, args.products, args.events, 7)
        print(f"events: {args.events} written in {time.perf_counter() - t0:.1f} s")
        store = BlockStore(engine)
        variants: dict[str, str] = {}
        for algorithm in BLOCK_TYPES:
            block = store.create(
                site_id,
                {"page_type": "product", "count": 10},
                [{"algorithm": algorithm, "params": {}, "weight": 1}],
                status="live",
            )
            variants[algorithm] = block.variants[0].ident
        t0 = time.perf_counter()
        result = train_site(engine, site_id)
        train_s = time.perf_counter() - t0
        print(
            f"training: {result.events} events, {result.items} items, {result.sessions} "
            f"sessions in {train_s:.1f} s"
        )
        engine.dispose()

        env = {
            **os.environ,
            "SHOPTRACK_DATABASE_URL": url,
            "SHOPTRACK_KEY_FILE": str(work / "keys"),
            "SHOPTRACK_RUN_PROCESSORS": "false",
            "SHOPTRACK_LOG_LEVEL": "warning",
            "SHOPTRACK_SQLITE_SYNCHRONOUS": "NORMAL",
        }
        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        mode_env = {
            "memory": {},
            "store": {"SHOPTRACK_RECS_HISTORY_ITEMS": "0"},
            "redis": {"SHOPTRACK_REDIS_URL": args.redis_url},
        }
        if "redis" in modes:
            import redis

            redis.Redis.from_url(args.redis_url).flushdb()
        ports = {mode: free_port() for mode in modes}
        empty_port = free_port()
        servers = [
            start(
                [
                    sys.executable,
                    "-m",
                    "shoptrack",
                    "serve",
                    "--workers",
                    "1",
                    "--port",
                    str(ports[mode]),
                ],
                {**env, **mode_env[mode]},
                ports[mode],
                work / f"server-{mode}.log",
            )
            for mode in modes
        ]
        empty = start(
            [sys.executable, __file__, "--serve-empty", str(empty_port)],
            env,
            empty_port,
            work / "empty.log",
        )
        rows: list[tuple[str, dict[str, dict[str, Any]]]] = []
        try:
            n_visitors = max(1, args.events // 20)
            hot = [f"p{int(i)}" for i in rng.zipf(1.4, 2000) % args.products]
            for name in ("empty handler", *BLOCK_TYPES):
                paths = []
                for k in range(2000):
                    query = {
                        "variant": variants.get(name, "r1v1"),
                        "visitor": f"v{rng.integers(0, n_visitors)}",
                        "product": hot[k],
                        "limit": 10,
                    }
                    if "category" in name:
                        query["category"] = f"Cat{k % 200}"
                    paths.append(f"/recs/{site_id}?{urlencode(query)}")
                targets = {"empty": empty_port} if name == "empty handler" else ports
                found: dict[str, dict[str, Any]] = {}
                for mode, target in targets.items():
                    # Warm up: the first request loads the site state, and each visitor's
                    # first one reads their history from the store; both are one-offs that
                    # would otherwise be measured as serving.
                    conn = http.client.HTTPConnection(HOST, target, timeout=120)
                    for path in paths:
                        conn.request("GET", path)
                        body = conn.getresponse().read()
                        if name != "empty handler":
                            assert len(orjson.loads(body)["products"]) == 10, body[:200]
                    conn.close()
                    found[mode] = measure(target, paths, args.rate, args.seconds)
                rows.append((name, found))
                print(f"  measured {name}", file=sys.stderr)
        finally:
            for proc in (*servers, empty):
                proc.terminate()
            for proc in (*servers, empty):
                proc.wait(10)

    print()
    print(f"training on {args.events:,} events / {args.products:,} products: {train_s:.1f} s")
    print(
        f"latency at {args.rate:.0f} req/s open loop, {args.seconds:.0f} s each, 10 products; "
        "req/s closed loop on 4 connections"
    )
    base = rows[0][1]["empty"]["rps"]
    print(f"empty handler: {base:,.0f} req/s, p50 {rows[0][1]['empty']['p50']:.2f} ms, "
          f"p99 {rows[0][1]['empty']['p99']:.2f} ms")  # fmt: skip
    head = "".join(f" {m} p50 / p99 ms | {m} req/s (× empty) |" for m in modes)
    print(f"| {'block type':<18} |{head}")
    print(f"|{'-' * 20}|" + "---:|---:|" * len(modes))
    for name, found in rows[1:]:
        cells = "".join(
            f" {found[m]['p50']:.2f} / {found[m]['p99']:.2f} | {found[m]['rps']:,.0f} "
            f"({found[m]['rps'] / base:.2f}×) |"
            for m in modes
        )
        print(f"| {name:<18} |{cells}")


if __name__ == "__main__":
    main()
