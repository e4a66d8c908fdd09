"""Segments benchmark: ten typical segments over a big store, and the cost of keeping them
current as events arrive.

Run it from the repository root (not a test)::

    python bench/segments.py [--facts 1000000] [--contacts 100000] [--database-url …]

1. **Full evaluation**: ``--facts`` rows of ``segment_facts`` (what the processor writes for
   about as many events: views, carts, orders, wishlist, searches, category views over 90
   days) for ``--contacts`` contacts plus half as many anonymous visitors, a catalogue of 5,000
   products in a two-level tree. Each segment's one SQL query, median of 3 runs, members found.
   The facts are inserted directly (the processor's own cost is part 2).
2. **Incremental update**: ``--events`` new events through the ``segments`` processor, in the
   runner's batches of 500, first with no segment defined (writing facts only: the baseline),
   then with the ten segments (facts + the re-evaluation of each batch's people): µs per event.

The store is a fresh SQLite file, or a fresh schema of the PostgreSQL database given with
``--database-url`` (dropped afterwards).
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, insert, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from _store import scratch_store  # noqa: E402
from shoptrack.segments.compile import Scope, evaluate  # noqa: E402
from shoptrack.segments.definition import parse_definition  # noqa: E402
from shoptrack.segments.processor import SegmentsProcessor  # noqa: E402
from shoptrack.segments.repo import create_segment, list_segments  # noqa: E402
from shoptrack.store.db import create_store_engine  # noqa: E402
from shoptrack.store.migrate import upgrade  # noqa: E402
from shoptrack.store.sites_repo import SiteRepository  # noqa: E402
from shoptrack.store.sql import now_ms  # noqa: E402
from shoptrack.store.tables import (  # noqa: E402
    catalog_categories,
    catalog_product_categories,
    catalog_products,
    catalog_state,
    contact_visitors,
    contacts,
    events,
    segment_facts,
)

DAY = 86_400_000
SITE = "bench"
PRODUCTS = 5000
KINDS = (("viewed", 60), ("carted", 15), ("purchased", 5), ("wishlisted", 5), ("searched", 10),
         ("viewed_category", 5))  # fmt: skip

SEGMENTS: dict[str, dict[str, Any]] = {
    "viewed 3+ times in 7 days": {"condition": "event", "event": "viewed", "within_days": 7,
                                  "count": {"op": ">=", "value": 3}},
    "carted in 30 days, bought nothing in 30": {"all": [
        {"condition": "event", "event": "carted", "within_days": 30},
        {"condition": "event", "event": "purchased", "within_days": 30,
         "count": {"op": "=", "value": 0}}]},
    "2+ orders in 90 days": {"condition": "orders", "metric": "count", "op": ">=", "value": 2,
                             "within_days": 90},
    "revenue over 200 in 90 days": {"condition": "orders", "metric": "revenue", "op": ">",
                                    "value": 200, "within_days": 90},
    "last order over 30 days ago": {"condition": "last_order", "more_than_days_ago": 30},
    "viewed category 'Dept 3' (any level), 30 days": {"condition": "event", "event": "viewed",
                                                       "category": "Dept 3", "within_days": 30},
    "abandoned cart": {"condition": "abandoned_cart", "after_hours": 1, "within_days": 7},
    "abandoned browse": {"condition": "abandoned_browse", "after_hours": 1, "within_days": 7},
    "price drop 10 % on a viewed item": {"condition": "price_drop", "min_percent": 10},
    "identified, e-mail, a search without result": {"all": [
        {"condition": "contact", "is": "identified"},
        {"condition": "contact", "is": "has_email"},
        {"condition": "event", "event": "searched_no_result", "within_days": 30}]},
}  # fmt: skip


def fill(engine: Engine, n_facts: int, n_contacts: int, now: int, rng: random.Random) -> None:
    SiteRepository(engine).create("Bench", SITE)
    visitors = [f"v{i}" for i in range(n_contacts + n_contacts // 2)]
    with engine.begin() as conn:
        for start in range(0, n_contacts, 5000):
            conn.execute(
                insert(contacts),
                [
                    {
                        "site_id": SITE,
                        "contact_id": f"c{i}",
                        "created_at": now,
                        "updated_at": now,
                        "source": "api",
                        "email_bidx": f"e{i}" if i % 3 else None,
                    }
                    for i in range(start, min(n_contacts, start + 5000))
                ],
            )
            conn.execute(
                insert(contact_visitors),
                [
                    {
                        "site_id": SITE,
                        "visitor_id": f"v{i}",
                        "contact_id": f"c{i}",
                        "linked_at": now,
                    }
                    for i in range(start, min(n_contacts, start + 5000))
                ],
            )
        conn.execute(insert(catalog_state).values(site_id=SITE, generation=1, next_generation=2))
        conn.execute(
            insert(catalog_categories),
            [
                {
                    "site_id": SITE,
                    "category_id": d,
                    "parent_id": None,
                    "name": f"Dept {d}",
                    "path": f"Dept {d}",
                    "depth": 0,
                }
                for d in range(1, 11)
            ]
            + [
                {
                    "site_id": SITE,
                    "category_id": 100 + c,
                    "parent_id": 1 + c % 10,
                    "name": f"Aisle {c}",
                    "path": f"Dept {1 + c % 10} > Aisle {c}",
                    "depth": 1,
                }
                for c in range(40)
            ],
        )
        stamp = {
            "price_source": "feed",
            "price_at": now,
            "stock_source": "feed",
            "stock_at": now,
            "details_source": "feed",
            "details_at": now,
            "updated_at": now,
        }
        conn.execute(
            insert(catalog_products),
            [
                {
                    "site_id": SITE,
                    "generation": 1,
                    "product_key": f"p{i}",
                    "brand": f"Brand {i % 20}",
                    "price": 10.0 + i % 90,
                    "in_stock": i % 7 != 0,
                    **stamp,
                }
                for i in range(PRODUCTS)
            ],
        )
        conn.execute(
            insert(catalog_product_categories),
            [
                {
                    "site_id": SITE,
                    "generation": 1,
                    "category_id": 100 + i % 40,
                    "product_key": f"p{i}",
                }
                for i in range(PRODUCTS)
            ],
        )
    kinds = [k for k, weight in KINDS for _ in range(weight)]
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for seq in range(1, n_facts + 1):
        kind = rng.choice(kinds)
        visitor = rng.choice(visitors)
        product = rng.randrange(PRODUCTS)
        price = 10.0 + product % 90
        rows.append(
            {
                "site_id": SITE,
                "seq": seq,
                "line": 0,
                "visitor_id": visitor,
                "contact_id": None,
                "kind": kind
                if not (kind == "searched" and rng.random() < 0.2)
                else "searched_none",
                "at": now - rng.randrange(90 * DAY),
                "product_key": f"p{product}"
                if kind in ("viewed", "carted", "purchased", "wishlisted")
                else None,
                "price": price * (1.15 if rng.random() < 0.05 else 1.0),
                "in_stock": product % 7 != 0,
                "amount": price if kind == "purchased" else None,
                "order_key": f"o{seq // 2}" if kind == "purchased" else None,
                "category_key": f"Aisle {product % 40}" if kind == "viewed_category" else None,
            }
        )
        if len(rows) == 20_000:
            with engine.begin() as conn:
                conn.execute(insert(segment_facts), rows)
            rows.clear()
    if rows:
        with engine.begin() as conn:
            conn.execute(insert(segment_facts), rows)
    print(f"fill: {n_facts:,} facts, {n_contacts:,} contacts, {len(visitors):,} visitors "
          f"in {time.perf_counter() - started:.0f} s")  # fmt: skip


def full_evaluations(engine: Engine, now: int) -> None:
    print(f"\n{'segment':<48} {'members':>8} {'median ms':>10} {'runs ms':>22}")
    for name, match in SEGMENTS.items():
        definition = parse_definition({"match": match})
        times: list[float] = []
        found: set[str] = set()
        for _ in range(3):
            started = time.perf_counter()
            with engine.connect() as conn:
                found = evaluate(conn, definition, Scope(SITE, now))
            times.append((time.perf_counter() - started) * 1000)
        runs = " ".join(f"{t:.0f}" for t in times)
        print(f"{name:<48} {len(found):>8,} {statistics.median(times):>10.0f} {runs:>22}")


def add_events(
    engine: Engine, n: int, now: int, rng: random.Random, n_contacts: int, tag: str
) -> int:
    """``n`` browser events (views, carts, orders) of known and new visitors; the last seq."""
    types = ("ProductPage",) * 6 + ("StatusCart",) * 2 + ("PurchasedItems",)
    with engine.begin() as conn:
        conn.execute(insert(events), [
            {"site_id": SITE, "event_id": f"{tag}{i}", "type": (kind := rng.choice(types)),
             "occurred_at": now - rng.randrange(DAY), "received_at": now,
             "visitor_id": f"v{rng.randrange(n_contacts * 2)}", "source": "browser",
             "data": orjson.dumps({"type": kind, "source": "browser", "order_number": f"n{i}",
                                   "products": [{"key": f"p{rng.randrange(PRODUCTS)}",
                                                 "price": 20.0, "quantity": 1}]}).decode()}
            for i in range(n)])  # fmt: skip
        return int(conn.execute(select(events.c.seq).order_by(events.c.seq.desc())).scalar() or 0)


def follow(engine: Engine, after: int, upto: int) -> float:
    processor = SegmentsProcessor()
    started = time.perf_counter()
    for low in range(after, upto, 500):
        with engine.begin() as conn:
            processor.handle(conn, low, min(upto, low + 500))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--facts", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    rng = random.Random(7)
    with scratch_store(args.database_url, "bench_segments") as url:
        engine = create_store_engine(url)
        upgrade(engine)
        now = now_ms()
        print(f"backend: {engine.dialect.name}")
        fill(engine, args.facts, args.contacts, now, rng)
        full_evaluations(engine, now)
        first = add_events(engine, args.events, now, rng, args.contacts, "a")
        baseline = follow(engine, first - args.events, first)
        with engine.begin() as conn:
            for name, match in SEGMENTS.items():
                create_segment(conn, SITE, name[:200], {"match": match})
            assert len(list_segments(conn, SITE)) == len(SEGMENTS)
        last = add_events(engine, args.events, now, rng, args.contacts, "b")
        with_segments = follow(engine, last - args.events, last)
        per = 1e6 / args.events
        print(f"\nincremental, {args.events:,} events in batches of 500:")
        print(f"  facts only (no segment):          {baseline * per:8.0f} µs/event")
        label = f"facts + {len(SEGMENTS)} segments re-evaluated:"
        print(f"  {label:<34}{with_segments * per:8.0f} µs/event "
              f"({with_segments / baseline:.1f}×)")  # fmt: skip
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory: {rss:.0f} MB")
        engine.dispose()


if __name__ == "__main__":
    main()
