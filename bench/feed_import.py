"""Feed import benchmark: items/s and peak memory for generated Google Merchant RSS feeds.

Run it from the repository root (not a test)::

    python bench/feed_import.py [--quick] [--database-url postgresql://…] [--batch-size N]

For each size (10k, 100k and 1M items; ``--quick``: 1k, 10k and 100k) it writes an RSS feed
to a temporary directory (streamed, ~600 bytes per item: id, title, description, link, image,
brand, price, sale price on every 5th item, availability, a 3-level category from 300 paths,
product_type, two custom fields), then imports it **in a fresh process**, so each size's
peak memory is its own:

* ``peak RSS`` is the process's high-water resident set (``ru_maxrss``), libxml2's memory
  included (tracemalloc would not see it);
* ``growth`` is peak RSS minus the RSS just before the import started (interpreter, modules,
  engine): what the import itself needed. Bounded memory means this column does not grow
  with the feed's size; it scales with ``--batch-size`` (rows held per write transaction).

The store is a fresh SQLite file per size, or a fresh schema of the PostgreSQL database given
with ``--database-url`` (dropped afterwards). ``CPU s`` is the importing process's own CPU
time (user + system): on a busy machine ``items/CPU-s`` is the steadier number, and on
PostgreSQL the server's CPU is not in it. Linux (``ru_maxrss`` in KiB, /proc).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 10_000, 100_000)
G = "http://base.google.com/ns/1.0"


def write_feed(path: Path, items: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    departments = ["Shoes", "Clothing", "Home", "Garden", "Toys", "Sports"]
    paths = [
        f"{d} > Group {g} > Line {n}" for d in departments for g in range(10) for n in range(5)
    ]
    with path.open("w", encoding="utf-8", buffering=1 << 20) as out:
        out.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:g="{G}">\n')
        out.write("<channel><title>Bench shop</title><link>https://shop.example/</link>\n")
        for n in range(items):
            price = rng.randint(100, 50_000) / 100
            sale = f"<g:sale_price>{price * 0.8:.2f} USD</g:sale_price>" if n % 5 == 0 else ""
            stock = "in stock" if rng.random() < 0.9 else "out of stock"
            category = escape(paths[rng.randrange(len(paths))])
            out.write(
                f"<item><g:id>SKU-{n:07d}</g:id><title>Product {n} &amp; more</title>"
                f"<description>Description of product {n}: light, strong and useful.</description>"
                f"<link>https://shop.example/p/{n}</link>"
                f"<g:image_link>https://cdn.shop.example/i/{n}.jpg</g:image_link>"
                f"<g:brand>Brand {n % 97}</g:brand><g:price>{price:.2f} USD</g:price>{sale}"
                f"<g:availability>{stock}</g:availability>"
                f"<g:google_product_category>{category}</g:google_product_category>"
                f"<g:product_type>Type {n % 13}</g:product_type>"
                f"<g:color>{rng.choice(['red', 'blue', 'green'])}</g:color>"
                f"<g:material>cotton</g:material></item>\n"
            )
        out.write("</channel></rss>\n")
    return path.stat().st_size


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child(database_url: str, feed_path: str, batch_size: int) -> None:
    """Import one feed into a fresh store; print one JSON line."""
    from shoptrack.catalog.importer import FeedImporter
    from shoptrack.config import Settings
    from shoptrack.store.db import create_store_engine
    from shoptrack.store.migrate import upgrade
    from shoptrack.store.sites_repo import SiteRepository

    settings = Settings(database_url=database_url, feed_batch_size=batch_size)
    engine = create_store_engine(database_url)  # SQLite: synchronous=FULL, as served
    upgrade(engine)
    site_id = SiteRepository(engine).create("Bench shop")[0].site_id
    importer = FeedImporter(engine, settings)
    feed = importer.feeds.add(site_id, feed_path, None, allow_files=True)
    before = rss_kib()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    outcome = importer.run(feed)
    elapsed = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    engine.dispose()
    result = {
        "status": outcome.status,
        "error": outcome.error,
        "products": outcome.report.get("products"),
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "rss_before_kib": before,
        "peak_rss_kib": peak,
    }
    print(json.dumps(result))


def run_size(
    items: int, workdir: Path, database_url: str | None, batch_size: int
) -> dict[str, Any]:
    feed = workdir / f"feed-{items}.xml"
    size = write_feed(feed, items)
    cleanup = None
    if database_url is None:
        url = f"sqlite:///{workdir / f'bench-{items}.db'}"
    else:
        from tests.support.databases import postgres_schema

        cleanup = postgres_schema(database_url)
        url = cleanup.__enter__()
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--child", url, str(feed), str(batch_size)],
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        if cleanup is not None:
            cleanup.__exit__(None, None, None)
        feed.unlink()
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(items=items, bytes=size)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1k, 10k and 100k items")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--batch-size", type=int, default=2000, help="rows per write batch")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    store = "PostgreSQL" if args.database_url else "SQLite"
    print(f"feed import, {store}, batch size {args.batch_size}")
    header = (
        f"{'items':>9} {'feed MB':>8} {'seconds':>8} {'items/s':>8} {'CPU s':>7} "
        f"{'items/CPU-s':>11} {'peak RSS MB':>12} {'growth MB':>10}"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="shoptrack-bench-") as tmp:
        for items in QUICK_SIZES if args.quick else SIZES:
            r = run_size(items, Path(tmp), args.database_url, args.batch_size)
            if r["status"] != "ok":
                print(f"{items:>9} import {r['status']}: {r['error']}")
                continue
            print(
                f"{items:>9,} {r['bytes'] / 1e6:>8.1f} {r['seconds']:>8.1f} "
                f"{items / r['seconds']:>8,.0f} {r['cpu_seconds']:>7.1f} "
                f"{items / r['cpu_seconds']:>11,.0f} {r['peak_rss_kib'] / 1024:>12.1f} "
                f"{(r['peak_rss_kib'] - r['rss_before_kib']) / 1024:>10.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
