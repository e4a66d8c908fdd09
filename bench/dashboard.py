"""Dashboard benchmark: the Overview and Charts pages on a site with 1,000,000 events.

Run it from the repository root (not a test)::

    python bench/dashboard.py [--events 1000000] [--days 90] [--database-url postgresql://…]

1. **Fill**: ``--events`` canonical browser events of one site over ``--days`` days (page
   views, product pages, categories, carts, orders, searches, impressions; ~3 % from a
   crawler), inserted straight into ``events`` in chunks of 10,000 rows (as the collector
   would have stored them, without the HTTP path: that is ``bench/ingest.py``'s subject).
2. **Processing**: the ``analytics`` processor alone, in the runner's batches of 500, from an
   empty cursor: seconds for the log and µs per event, next to the runner with a processor
   that does nothing (the runner's own share).
3. **Reading**: each query of the pages (tracking status, 30 days' series, the funnel of 30
   and of 90 days) and each page (``GET`` as a signed-in user, in-process ASGI client), the
   p50 / p99 of ``--reads`` runs, next to ``/healthz`` in the same client (the stack's floor).

The store is a fresh SQLite file, or a fresh schema of the PostgreSQL database given with
``--database-url`` (dropped afterwards; its traffic tables are vacuumed and analysed after the
processing, as autovacuum would on a running server).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, func, insert, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from _store import scratch_store  # noqa: E402
from shoptrack.accounts.users import UserRepository  # noqa: E402
from shoptrack.analytics.processor import AnalyticsProcessor  # noqa: E402
from shoptrack.analytics.queries import daily_series, funnel, tracking_status  # noqa: E402
from shoptrack.config import Settings  # noqa: E402
from shoptrack.processing.runner import ProcessorRunner  # noqa: E402
from shoptrack.store.db import create_store_engine  # noqa: E402
from shoptrack.store.migrate import upgrade  # noqa: E402
from shoptrack.store.sites_repo import SiteRepository  # noqa: E402
from shoptrack.store.tables import events, traffic_visitors  # noqa: E402
from shoptrack.web.app import create_app  # noqa: E402

DAY_MS = 86_400_000
# (type, share in %): what a shop's log holds, roughly.
MIX = (
    ("PageView", 38),
    ("ProductPage", 28),
    ("CategoryPage", 10),
    ("MainPage", 5),
    ("SearchRequest", 3),
    ("ProductImpression", 5),
    ("StatusCart", 8),
    ("PurchasedItems", 2),
    ("CustomerData", 1),
)
KINDS = [kind for kind, share in MIX for _ in range(share)]
HUMAN = {"browser": "Firefox", "os": "Linux", "device": "Other", "is_bot": False}
CRAWLER = {"browser": "Googlebot", "os": "Other", "device": "Spider", "is_bot": True}
EVENTS_PER_VISIT = 10
PASSWORD = "bench password, not a secret"
TRAFFIC_TABLES = ("traffic_daily", "traffic_visitors", "traffic_types", "traffic_pages")


class Idle:
    name = "bench_idle"

    def handle(self, conn: Connection, after: int, upto: int) -> None:
        return None


def event_row(site_id: str, n: int, at: int) -> dict[str, Any]:
    kind = KINDS[n % len(KINDS)]
    visit = n // EVENTS_PER_VISIT
    bot = visit % 33 == 0
    visitor = f"v{visit % 150_000}"
    product = {"key": f"p{n % 5000}", "price": 19.9, "quantity": 1 + n % 3}
    body = {
        "id": f"e{n}",
        "site_id": site_id,
        "type": kind,
        "source": "browser",
        "visitor_id": visitor,
        "session_id": f"s{visit}",
        "page": {
            "url": f"https://shop.example/{kind.lower()}/{n % 5000}",
            "title": "A page of the shop",
            "referrer": "https://shop.example/",
        },
        "location": None,
        "products": [product] if kind in ("ProductPage", "StatusCart", "PurchasedItems") else [],
        "user_agent": CRAWLER if bot else HUMAN,
        "ip": "192.0.2.0",
        "tags": {},
        "payload": {kind: {"productKey": product["key"]}},
    }
    return {
        "site_id": site_id,
        "event_id": f"e{n}",
        "type": kind,
        "occurred_at": at,
        "received_at": at,
        "visitor_id": visitor,
        "session_id": f"s{visit}",
        "contact_id": None,
        "source": "browser",
        "cart_guid": None,
        "data": orjson.dumps(body).decode(),
        "identity_enc": None,
    }


def timed(fn: Callable[[], object], reads: int) -> tuple[float, float]:
    """(p50, p99) in ms of ``reads`` calls, after one warm-up call."""
    fn()
    took = []
    for _ in range(reads):
        began = time.perf_counter()
        fn()
        took.append((time.perf_counter() - began) * 1000)
    took.sort()
    return statistics.median(took), took[min(len(took) - 1, round(0.99 * (len(took) - 1)))]


def query_timings(
    engine: Engine, site_id: str, today: date, reads: int
) -> list[tuple[str, float, float]]:
    def with_conn(read: Callable[[Connection], object]) -> Callable[[], object]:
        def run() -> object:
            with engine.connect() as conn:
                return read(conn)

        return run

    month = today - timedelta(days=29)
    quarter = today - timedelta(days=89)
    cases: list[tuple[str, Callable[[Connection], object]]] = [
        ("query: tracking status", lambda c: tracking_status(c, site_id, today)),
        ("query: series, 30 days", lambda c: daily_series(c, site_id, month, today)),
        ("query: series, 90 days", lambda c: daily_series(c, site_id, quarter, today)),
        ("query: funnel, 30 days", lambda c: funnel(c, site_id, month, today)),
        ("query: funnel, 90 days", lambda c: funnel(c, site_id, quarter, today)),
        ("query: bots' series+funnel 30 d", lambda c: (
            daily_series(c, site_id, month, today, bot=True),
            funnel(c, site_id, month, today, bot=True),
        )),
    ]  # fmt: skip
    return [(name, *timed(with_conn(read), reads)) for name, read in cases]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--reads", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with scratch_store(args.database_url, "bench_dashboard") as url:
        engine = create_store_engine(url)
        upgrade(engine)
        site, _ = SiteRepository(engine).create("Bench shop")
        today = datetime.now(tz=UTC).date()
        first_day = today - timedelta(days=args.days - 1)
        start = int(datetime(*first_day.timetuple()[:3], tzinfo=UTC).timestamp() * 1000)
        # Up to now, not into the rest of today: "today" has its morning's traffic.
        now = int(time.time() * 1000)
        days_ms = (now - start) / DAY_MS

        began = time.perf_counter()
        fill(engine, site.site_id, args.events, start, now)
        print(f"backend: {engine.dialect.name}, events: {args.events:,} over {days_ms:.1f} days")
        print(f"fill (INSERT into events, 10,000 rows a statement): "
              f"{time.perf_counter() - began:.1f} s")  # fmt: skip

        idle = ProcessorRunner(engine, [Idle()], batch_size=500)
        began = time.perf_counter()
        idle.drain(timeout_s=24 * 3600)
        baseline = time.perf_counter() - began
        runner = ProcessorRunner(engine, [AnalyticsProcessor()], batch_size=500)
        began = time.perf_counter()
        runner.drain(timeout_s=24 * 3600)
        took = time.perf_counter() - began
        per_event = took / args.events * 1e6
        print(f"analytics processor: {took:.1f} s, {per_event:.2f} µs/event "
              f"(the runner alone, doing nothing: {baseline:.1f} s, "
              f"{baseline / args.events * 1e6:.2f} µs/event)")  # fmt: skip
        with engine.connect() as conn:
            visitor_days = conn.execute(select(func.count()).select_from(traffic_visitors))
            print(f"visitor-day rows: {visitor_days.scalar_one():,}")
        if engine.dialect.name == "postgresql":
            # What autovacuum does on a running server: the processor's upserts leave dead
            # row versions in the small tables, and fresh tables have no statistics yet.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in TRAFFIC_TABLES:
                    conn.execute(text(f"VACUUM ANALYZE {table}"))
            print("VACUUM ANALYZE of the traffic tables (autovacuum's work, done at once)")

        rows = query_timings(engine, site.site_id, today, args.reads)
        with tempfile.TemporaryDirectory() as keys:
            rows += page_timings(url, site.site_id, args.reads, Path(keys))
        print()
        print(f"| {'what':<40} | p50 ms | p99 ms |")
        print(f"|{'-' * 42}|-------:|-------:|")
        for name, p50, p99 in rows:
            print(f"| {name:<40} | {p50:6.1f} | {p99:6.1f} |")
        engine.dispose()


def fill(engine: Engine, site_id: str, count: int, start: int, end: int) -> None:
    chunk = 10_000
    for first in range(0, count, chunk):
        rows = [
            event_row(site_id, n, start + n * (end - start) // count)
            for n in range(first, min(count, first + chunk))
        ]
        with engine.begin() as conn:
            conn.execute(insert(events), rows)


def page_timings(
    database_url: str, site_id: str, reads: int, key_dir: Path
) -> list[tuple[str, float, float]]:
    """Each page as a signed-in user gets it, and ``/healthz`` (the stack's floor), through the
    real app in-process (no processors running: they would compete for the CPU)."""
    settings = Settings(
        database_url=database_url,
        key_file=key_dir / "bench-dashboard.keys",
        run_processors=False,
        trusted_hosts="testserver",
    )
    app = create_app(settings)
    # HTTPS, so the Secure session cookie comes back.
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as browser:
        engine = app.state.services.engine
        UserRepository(engine).create("bench@example.com", PASSWORD, is_admin=True)
        form = browser.get("/admin/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None
        signed = browser.post(
            "/admin/login",
            data={"email": "bench@example.com", "password": PASSWORD, "csrf_token": token[1]},
        )
        assert signed.status_code == 303, signed.text

        def get(path: str) -> Callable[[], object]:
            def run() -> object:
                answer = browser.get(path)
                assert answer.status_code == 200, (path, answer.status_code, answer.text[:500])
                return answer

            return run

        base = f"/admin/sites/{site_id}"
        cases = [
            ("GET /healthz (baseline)", "/healthz"),
            # /admin itself now sends a one-site user on to the overview: a page without figures.
            ("GET segments (none: baseline page)", f"{base}/segments"),
            ("GET overview", f"{base}/overview"),
            ("GET charts (30 days)", f"{base}/charts"),
            ("GET charts ?days=90", f"{base}/charts?days=90"),
            ("GET charts ?days=90&bots=show", f"{base}/charts?days=90&bots=show"),
        ]
        return [(name, *timed(get(path), reads)) for name, path in cases]


if __name__ == "__main__":
    main()
