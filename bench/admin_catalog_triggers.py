"""Dashboard benchmark: how long the Catalogue and Triggers pages take on a big site.

Run it from the repository root (not a test)::

    python bench/admin_catalog_triggers.py [--products 100000] [--messages 50000] \
        [--database-url postgresql://…]

The site gets a catalogue of ``--products`` products (a generated RSS feed imported twice, the
second time with every tenth price changed, so the product page has a history), 200 import
records, and ``--messages`` trigger messages with one attempt each; another site gets as many
messages (the pages must not read them). Then each page is requested 20 times through the app
(signed in, as a browser would: the whole request, templates included) and the median and the
slowest are printed in ms. Pages read no events: the catalogue's tables, the messages and the
trigger report's daily rows.

The store is a fresh SQLite file, or a fresh schema of the PostgreSQL database given with
``--database-url`` (dropped afterwards).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from tests.support.admin import admin_client_for  # noqa: E402

from _store import scratch_store  # noqa: E402
from feed_import import write_feed  # noqa: E402
from shoptrack.catalog.feeds import FeedRepository  # noqa: E402
from shoptrack.catalog.importer import FeedImporter  # noqa: E402
from shoptrack.config import Settings  # noqa: E402
from shoptrack.store.db import create_store_engine  # noqa: E402
from shoptrack.store.migrate import upgrade  # noqa: E402
from shoptrack.store.sites_repo import SiteRepository  # noqa: E402
from shoptrack.store.sql import now_ms  # noqa: E402
from shoptrack.store.tables import catalog_imports, trigger_attempts, trigger_messages  # noqa: E402
from shoptrack.web.app import create_app  # noqa: E402

DAY_MS = 86_400_000


def fill_catalog(engine: Engine, settings: Settings, site_id: str, products: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "feed.xml"
        write_feed(path, products)
        feed = FeedRepository(engine).add(site_id, str(path), None, allow_files=True)
        importer = FeedImporter(engine, settings)
        started = time.perf_counter()
        importer.run(feed, trigger="cli")
        write_feed(path, products, seed=8)  # other prices: every product gets a history row
        importer.run(FeedRepository(engine).require(site_id, feed.feed_id), trigger="cli")
        print(
            f"catalogue: {products:,} products imported twice in "
            f"{time.perf_counter() - started:.1f} s"
        )
    now = now_ms()
    rows = [
        {
            "site_id": site_id,
            "import_id": f"im_bench{n:06d}",
            "feed_id": feed.feed_id,
            "trigger": "schedule",
            "status": "ok",
            "started_at": now - (n + 1) * 3_600_000,
            "finished_at": now - (n + 1) * 3_600_000 + 20_000,
            "report": '{"products": 1, "errors": {"count": 0, "examples": []}}',
        }
        for n in range(200)
    ]
    with engine.begin() as conn:
        conn.execute(insert(catalog_imports), rows)
    return feed.feed_id


def fill_messages(engine: Engine, site_id: str, count: int) -> None:
    now = now_ms()
    statuses = ("sent", "sent", "sent", "failed", "cancelled", "suppressed", "pending")
    rules = ("abandoned_cart", "abandoned_browse", "wishlist", "price_drop")
    batch: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    for n in range(count):
        at = now - (n % 30) * DAY_MS - n
        status = statuses[n % len(statuses)]
        message_id = f"m{site_id[-6:]}{n:09d}"
        batch.append(
            {
                "message_id": message_id,
                "site_id": site_id,
                "rule": rules[n % len(rules)],
                "contact_id": f"ct_{n % 5000:08d}",
                "episode_key": f"g:{n}",
                "channel": "email",
                "status": status,
                "due_at": at,
                "decided_at": at,
                "sent_at": at if status == "sent" else None,
                "attempts": 1,
                "content": '{"products": [{"product_id": "SKU-0000001"}]}',
            }
        )
        attempts.append(
            {
                "message_id": message_id,
                "attempt": 1,
                "started_at": at,
                "finished_at": at,
                "outcome": "sent" if status == "sent" else "failed",
                "detail": "bench",
            }
        )
        if len(batch) == 5000:
            with engine.begin() as conn:
                conn.execute(insert(trigger_messages), batch)
                conn.execute(insert(trigger_attempts), attempts)
            batch, attempts = [], []
    if batch:
        with engine.begin() as conn:
            conn.execute(insert(trigger_messages), batch)
            conn.execute(insert(trigger_attempts), attempts)


def timed(client: TestClient, path: str, repeat: int = 20) -> tuple[float, float]:
    answer = client.get(path)  # warm: templates compiled, caches filled
    assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, path
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with (
        scratch_store(args.database_url, "bench_admin_pages") as url,
        tempfile.TemporaryDirectory() as keys,
    ):
        settings = Settings(
            database_url=url,
            key_file=Path(keys) / "shoptrack.keys",
            run_processors=False,
            recs_refresh_interval_s=0,
            feed_batch_size=5000,
            trusted_hosts="testserver",  # the test client's name
        )
        engine = create_store_engine(url)
        upgrade(engine)
        site, _ = SiteRepository(engine).create("Bench shop")
        other, _ = SiteRepository(engine).create("Other shop")
        feed_id = fill_catalog(engine, settings, site.site_id, args.products)
        fill_messages(engine, site.site_id, args.messages)
        fill_messages(engine, other.site_id, args.messages)
        engine.dispose()
        with TestClient(create_app(settings)) as client:
            admin = admin_client_for(client, site.site_id)
            base = f"/admin/sites/{site.site_id}"
            message = f"m{site.site_id[-6:]}{3:09d}"
            pages = [
                ("catalogue (feeds, last imports)", f"{base}/catalog"),
                ("import report", f"{base}/catalog/imports/im_bench000000"),
                ("delete confirmation", f"{base}/catalog/feeds/{feed_id}/delete"),
                ("products, first page", f"{base}/catalog/products"),
                ("products, a page far in", f"{base}/catalog/products?after=SKU-0090000"),
                ("products, search (common)", f"{base}/catalog/products?q=product+1"),
                ("products, search (no match)", f"{base}/catalog/products?q=zzzz"),
                ("product with history", f"{base}/catalog/product?key=SKU-0000007"),
                ("triggers (rules, 30 days)", f"{base}/triggers"),
                ("rule form", f"{base}/triggers/rules/price_drop"),
                ("messages, first page", f"{base}/triggers/messages"),
                ("messages, failed", f"{base}/triggers/messages?status=failed"),
                ("messages, rule + state", f"{base}/triggers/messages?rule=wishlist&status=sent"),
                ("message with attempts", f"{base}/triggers/messages/{message}"),
            ]
            print(f"{'page':34} {'median ms':>10} {'max ms':>8}")
            for name, path in pages:
                median, slowest = timed(admin, path)
                print(f"{name:34} {median:10.1f} {slowest:8.1f}")


if __name__ == "__main__":
    main()
