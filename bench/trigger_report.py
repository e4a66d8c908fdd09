"""Trigger report benchmark: the ``trigger_reports`` processor over a big log, and a read.

Run it from the repository root (not a test)::

    python bench/trigger_report.py [--events 1000000] [--messages 10000] [--database-url …]

1. **Following the log**: ``--events`` browser events of one site (2 % visits through a trigger
   message's link, 1 % orders, the rest product views without one) and ``--messages`` sent
   messages over 30 days; the processor alone, in the runner's batches of 500, from an empty
   cursor: seconds for the log and µs per event (its part of the worker's work; a live worker
   pays it as events arrive).
2. **Reading**: ``GET /api/v1/reports/triggers``'s query for the 30 days, every rule: the
   median of 20 reads (no event is read: daily rows and the messages' send index).

The store is a fresh SQLite file, or a fresh schema of the PostgreSQL database given with
``--database-url`` (dropped afterwards).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from _store import scratch_store  # noqa: E402
from shoptrack.processing.runner import ProcessorRunner  # noqa: E402
from shoptrack.reports.ids import trigger_content  # noqa: E402
from shoptrack.store.db import create_store_engine  # noqa: E402
from shoptrack.store.migrate import upgrade  # noqa: E402
from shoptrack.store.sites_repo import SiteRepository  # noqa: E402
from shoptrack.store.tables import events, trigger_messages  # noqa: E402
from shoptrack.triggers.report import TriggerReportProcessor  # noqa: E402
from shoptrack.triggers.report_queries import trigger_report  # noqa: E402

DAY_MS = 86_400_000
RULES = ("abandoned_cart", "abandoned_browse", "search_no_results")
AGENT = {"browser": "Firefox", "os": "Linux", "device": "Other", "is_bot": False}


def store(database_url: str | None) -> AbstractContextManager[str]:
    return scratch_store(database_url, "bench_trigger_report")


class Idle:
    name = "bench_idle"

    def handle(self, conn: Connection, after: int, upto: int) -> None:
        return None


def event_row(
    site_id: str, n: int, kind: str, visitor: str, at: int, location: str | None
) -> dict[str, Any]:
    url = f"https://shop.example/p/p{n % 500}"
    if location:
        url += f"?sc_content={location}&utm_source=shoptrack"
    body = {
        "id": f"e{n}",
        "site_id": site_id,
        "type": kind,
        "source": "browser",
        "visitor_id": visitor,
        "session_id": f"s-{visitor}",
        "page": {"url": url, "title": "A product", "referrer": None},
        "location": location,
        "products": [{"key": f"p{n % 500}", "price": 10.0, "quantity": 1}],
        "user_agent": AGENT,
        "tags": {},
    }
    return {
        "site_id": site_id,
        "event_id": f"e{n}",
        "type": kind,
        "occurred_at": at,
        "received_at": at,
        "visitor_id": visitor,
        "session_id": f"s-{visitor}",
        "contact_id": None,
        "source": "browser",
        "cart_guid": None,
        "data": orjson.dumps(body).decode(),
        "identity_enc": None,
    }


def fill(engine: Engine, site_id: str, count: int, messages: int, start: int) -> None:
    """Sent messages over 30 days, then the log: views, visits through links, orders."""
    sent = [
        {
            "message_id": f"m{n:08d}",
            "site_id": site_id,
            "rule": RULES[n % len(RULES)],
            "contact_id": f"ct_{n:010d}",
            "episode_key": f"g{n}",
            "channel": "email",
            "status": "sent",
            "due_at": start + n * 30 * DAY_MS // messages,
            "decided_at": start + n * 30 * DAY_MS // messages,
            "sent_at": start + n * 30 * DAY_MS // messages,
            "attempts": 1,
            "content": "{}",
        }
        for n in range(messages)
    ]
    with engine.begin() as conn:
        conn.execute(insert(trigger_messages), sent)
    chunk = 10_000
    for first in range(0, count, chunk):
        rows = []
        for n in range(first, min(count, first + chunk)):
            at = start + n * 30 * DAY_MS // count
            message = (n // 100) % messages
            visitor = f"v{message}" if n % 100 < 3 else f"anon{n % 50_000}"
            if n % 100 < 2:  # a visit through the message's link, and the next page
                location = trigger_content(RULES[message % len(RULES)], f"m{message:08d}")
                rows.append(event_row(site_id, n, "ProductPage", visitor, at, location))
            elif n % 100 == 2:  # the visitor's order
                rows.append(event_row(site_id, n, "PurchasedItems", visitor, at, None))
            else:
                rows.append(event_row(site_id, n, "ProductPage", visitor, at, None))
        with engine.begin() as conn:
            conn.execute(insert(events), rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with store(args.database_url) as url:
        engine = create_store_engine(url)
        upgrade(engine)
        site, _ = SiteRepository(engine).create("Bench shop")
        first_day = datetime.now(tz=UTC).date() - timedelta(days=31)
        start = int(
            datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC).timestamp() * 1000
        )
        began = time.perf_counter()
        fill(engine, site.site_id, args.events, args.messages, start)
        print(f"backend: {engine.dialect.name}, events: {args.events}, messages: {args.messages}")
        print(f"fill: {time.perf_counter() - began:.1f} s")

        # The runner's own cost per batch (cursor, gap check, transaction), for comparison.
        idle = ProcessorRunner(engine, [Idle()], batch_size=500)
        began = time.perf_counter()
        idle.drain(timeout_s=24 * 3600)
        baseline = time.perf_counter() - began
        print(f"runner alone (a processor doing nothing): {baseline:.2f} s")

        runner = ProcessorRunner(engine, [TriggerReportProcessor()], batch_size=500)
        began = time.perf_counter()
        runner.drain(timeout_s=24 * 3600)
        took = time.perf_counter() - began
        print(f"follow: {took:.2f} s for the log, {took / args.events * 1e6:.2f} µs/event")

        last = first_day + timedelta(days=31)
        reads = []
        for _ in range(20):
            began = time.perf_counter()
            result = trigger_report(engine, site.site_id, first_day, last)
            reads.append(time.perf_counter() - began)
        total = result["total"]
        print(
            f"read 31 days: median {statistics.median(reads) * 1000:.1f} ms "
            f"({len(result['days'])} rows; sent {total['sent']}, clicked {total['clicked']}, "
            f"orders {total['orders']})"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
