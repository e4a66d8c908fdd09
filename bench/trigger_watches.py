"""Catalogue watcher benchmark: what a round costs the worker for wishlist / price_drop /
back_in_stock, with many visitors watching many products.

Run it from the repository root (not a test)::

    python bench/trigger_watches.py [--products 100000] [--watches 200000]
                                    [--database-url postgresql://…]

The store gets ``--products`` live products and ``--watches`` watches (``price_drop`` for
every view, ``back_in_stock`` for one in ten, seen out of stock), written directly. Then:

1. **full look**: the first round (or the first after an import's switch): every watch of
   the site joined with the live catalogue, in one statement per rule;
2. **idle round**: nothing changed since: the few indexed reads a round costs a site;
3. **100 changed products**: ``ProductUpdate``-like writes (price down 20 %, ``event_at`` and
   ``updated_at`` set) of 100 products, then a round: the changed products by the partial
   index, their watchers by ``(site_id, product_key)``, the episodes woken.

The tables are analyzed after the fill, as a live store's are. The store is a fresh SQLite
file, or a fresh schema of the PostgreSQL database given with ``--database-url`` (dropped
afterwards).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from sqlalchemy import Engine, insert, text, update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from shoptrack.store.db import create_store_engine  # noqa: E402
from shoptrack.store.migrate import upgrade  # noqa: E402
from shoptrack.store.sites_repo import SiteRepository  # noqa: E402
from shoptrack.store.sql import now_ms  # noqa: E402
from shoptrack.store.tables import catalog_products, catalog_state, trigger_watches  # noqa: E402
from shoptrack.triggers.model import Rule  # noqa: E402
from shoptrack.triggers.rules import read_rules, write_rule  # noqa: E402
from shoptrack.triggers.watcher import CatalogWatcher  # noqa: E402
from triggers import store  # noqa: E402  (bench/triggers.py: the temporary store)

CHUNK = 5_000


def fill(engine: Engine, site_id: str, products: int, watches: int) -> None:
    rng = random.Random(3)
    at = now_ms()
    with engine.begin() as conn:
        conn.execute(
            insert(catalog_state).values(
                site_id=site_id, generation=1, next_generation=2, updated_at=at
            )
        )
        for start in range(0, products, CHUNK):
            rows = [
                {
                    "site_id": site_id,
                    "generation": 1,
                    "product_key": f"SKU-{n:07d}",
                    "price": 10.0 + n % 500,
                    "currency": "USD",
                    "in_stock": n % 10 != 0,
                    "price_source": "feed",
                    "price_at": at,
                    "stock_source": "feed",
                    "stock_at": at,
                    "details_source": "feed",
                    "details_at": at,
                    "updated_at": at,
                }
                for n in range(start, min(products, start + CHUNK))
            ]
            conn.execute(insert(catalog_products), rows)
        for start in range(0, watches, CHUNK):
            rows = []
            for n in range(start, min(watches, start + CHUNK)):
                key = rng.randrange(products)
                out = key % 10 == 0
                rule = Rule.BACK_IN_STOCK if out else Rule.PRICE_DROP
                rows.append(
                    {
                        "site_id": site_id,
                        "rule": rule.value,
                        "visitor_id": f"v{n}",
                        "product_key": f"SKU-{key:07d}",
                        "seen_price": 10.0 + key % 500,
                        "seen_currency": "USD",
                        "seen_in_stock": not out,
                        "seen_at": at,
                        "seq": n + 1,
                        "qualified": False,
                    }
                )
            conn.execute(insert(trigger_watches), rows)
    # The statistics a live store has (an import ends with ANALYZE, autovacuum analyzes the
    # watches as they grow): without any, PostgreSQL guesses one row and nests loops.
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE catalog_products, trigger_watches"))
        else:
            conn.execute(text("ANALYZE"))


def timed(watcher: CatalogWatcher) -> tuple[float, int]:
    started = time.perf_counter()
    counts = watcher.run()
    return (time.perf_counter() - started) * 1000, counts.woken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--watches", type=int, default=200_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with store(args.database_url) as url:
        engine = create_store_engine(url)
        upgrade(engine)
        site, _key = SiteRepository(engine).create("Bench shop")
        with engine.begin() as conn:
            rules = read_rules(conn, site.site_id)
            for rule in (Rule.PRICE_DROP, Rule.BACK_IN_STOCK):
                write_rule(conn, site.site_id, rules[rule].__class__(rule, enabled=True))
        fill(engine, site.site_id, args.products, args.watches)
        watcher = CatalogWatcher(engine)
        store_name = engine.dialect.name
        print(f"{store_name}: {args.products} products, {args.watches} watches")
        full_ms, woken = timed(watcher)
        print(f"full look (first round, or after an import): {full_ms:.0f} ms, {woken} woken")
        idle = sorted(timed(watcher)[0] for _ in range(20))
        print(f"idle round: median {idle[10]:.2f} ms")
        p = catalog_products.c
        changed = [f"SKU-{n:07d}" for n in random.Random(5).sample(range(args.products), 100)]
        with engine.begin() as conn:
            at = now_ms()
            conn.execute(
                update(catalog_products)
                .where(p.site_id == site.site_id, p.product_key.in_(changed))
                .values(price=p.price * 0.8, in_stock=True, event_at=at, updated_at=at)
            )
        change_ms, woken = timed(watcher)
        print(f"round after 100 changed products: {change_ms:.1f} ms, {woken} episodes woken")
        engine.dispose()


if __name__ == "__main__":
    main()
