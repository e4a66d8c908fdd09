"""Dashboard bench: Live events, Rejected and Contacts pages on a site with a big log.

Run it from the repository root (not a test)::

    python bench/admin_events.py [--events 1000000] [--database-url postgresql://…]

Fills a fresh store (SQLite file, or a fresh schema of the PostgreSQL database given) with
``--events`` events of one site (8 types, the rarest 1 %; 50,000 visitors; 2,000 contacts of
two visitors each), as many again of another site, 100,000 refusals and 20,000 contacts, by
SQL (``INSERT … SELECT``), then asks each page through the real app (in-process HTTP, signed
in) and prints the median and the slowest of 20 answers per page, in ms. The pages' budget
is 200 ms (issue 15).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from tests.support.admin import admin_client_for  # noqa: E402

from _store import scratch_store  # noqa: E402
from shoptrack.config import Settings  # noqa: E402
from shoptrack.web.app import create_app  # noqa: E402

# 8 types; the last is rare (1 in 100), the filters' worst case when it is the newest that
# must be found far back.
_TYPE = (
    "CASE WHEN n % 100 = 0 THEN 'SearchRequest' ELSE "
    "(CASE n % 7 WHEN 0 THEN 'PageView' WHEN 1 THEN 'ProductPage' WHEN 2 THEN 'CategoryPage' "
    "WHEN 3 THEN 'StatusCart' WHEN 4 THEN 'MainPage' WHEN 5 THEN 'ProductImpression' "
    "ELSE 'AddToWishlist' END) END"
)
_DATA = (
    """'{"id":"e' || n || '","site_id":"' || CAST(:site AS VARCHAR) || '","type":"'"""
    """ || {type} || '",'"""
    """ || '"source":"browser","visitor_id":"v' || (n % 50000) || '",'"""
    """ || '"page":{"url":"https://shop.example/p/p' || (n % 5000) || '","title":"A product",'"""
    """ || '"referrer":null},"products":[{"key":"p' || (n % 5000) || '","price":19.9,'"""
    """ || '"quantity":1}],"user_agent":{"browser":"Firefox","os":"Linux","device":"Other",'"""
    """ || '"is_bot":false},"tags":{},"identified":false,"payload":null}'"""
)


def _data() -> str:
    # ``text()`` reads ":name" as a parameter: the JSON's colons are escaped.
    return _DATA.replace("{type}", _TYPE).replace('":', '"\\:')


_NUMBERS = {
    "sqlite": "(WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {count})"
    " SELECT n FROM c)",
    "postgresql": "generate_series(1, {count}) AS n",
}


def _numbers(engine: Engine, count: int) -> str:
    return _NUMBERS[engine.dialect.name].replace("{count}", str(count))


def fill(engine: Engine, site_id: str, other: str, count: int) -> None:
    blob = "X''" if engine.dialect.name == "sqlite" else "''::bytea"
    with engine.begin() as conn:
        for site in (site_id, other):
            conn.execute(
                text(
                    "INSERT INTO events (site_id, event_id, type, occurred_at, received_at,"
                    " visitor_id, session_id, source, data)"
                    " SELECT CAST(:site AS VARCHAR), 'e' || n, "
                    f"{_TYPE}, 1764000000000 + n, 1764000000000 + n, 'v' || (n % 50000),"
                    f" 's' || (n % 80000), 'browser', {_data()}"
                    f" FROM {_numbers(engine, count)}"
                ),
                {"site": site},
            )
        conn.execute(
            text(
                "INSERT INTO contacts (site_id, contact_id, created_at, updated_at, source)"
                f" SELECT :site, 'ct_' || n, 1764000000000 + n, 1764000000000 + n, 'api'"
                f" FROM {_numbers(engine, 20000)}"
            ),
            {"site": site_id},
        )
        conn.execute(
            text(
                "INSERT INTO contact_visitors (site_id, visitor_id, contact_id, linked_at)"
                " SELECT :site, 'v' || n, 'ct_' || (n % 2000 + 1), n"
                f" FROM {_numbers(engine, 4000)}"
            ),
            {"site": site_id},
        )
        conn.execute(
            text(
                "INSERT INTO rejected_events (site_id, received_at, source, endpoint, code, step,"
                " message, body_size, body_enc) SELECT :site, n, 'browser', 'webevent',"
                " CASE WHEN n % 1000 = 0 THEN 'too_deep' ELSE 'unknown_event' END, 'type', '',"
                f" 0, {blob} FROM {_numbers(engine, 100000)}"
            ),
            {"site": site_id},
        )
        conn.execute(text("ANALYZE"))


PAGES = {
    "events, newest": "events",
    "events, 20th page": "events?before={deep}",
    "events, common type": "events?type=PageView",
    "events, rare type": "events?type=SearchRequest",
    "events, one visitor": "events?visitor=v4242",
    "events, type + visitor": "events?type=ProductPage&visitor=v4242",
    "events, a contact (2 visitors)": "events?contact=ct_77",
    "events, live": "events?live=1",
    "rejected, newest": "rejected",
    "rejected, rare code": "rejected?code=too_deep",
    "contacts, newest": "contacts",
    "contact page": "contacts/ct_77",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database-url")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with (
        scratch_store(args.database_url, "bench_admin") as url,
        tempfile.TemporaryDirectory() as keys,
    ):
        settings = Settings(
            database_url=url,
            key_file=Path(keys) / "shoptrack.keys",
            run_processors=False,
            trusted_hosts="testserver",
        )
        with TestClient(create_app(settings)) as client:
            services = client.app.state.services  # type: ignore[attr-defined]
            site, _ = services.site_repo.create("Big shop")
            other, _ = services.site_repo.create("Other shop")
            started = time.perf_counter()
            fill(services.engine, site.site_id, other.site_id, args.events)
            took = time.perf_counter() - started
            print(f"filled {args.events:,} events per site in {took:.0f} s")
            admin = admin_client_for(client, site.site_id)
            deep = args.events - 19 * 50  # the site's events are seqs 1 … N: its 20th page
            print(f"{'page':32} {'median ms':>10} {'max ms':>8}  ({services.engine.dialect.name})")
            for label, path in PAGES.items():
                target = f"/admin/sites/{site.site_id}/" + path.replace("{deep}", str(deep))
                times = []
                for _ in range(args.repeat):
                    begun = time.perf_counter()
                    answer = admin.get(target)
                    times.append((time.perf_counter() - begun) * 1000)
                    assert answer.status_code == 200, (target, answer.status_code)
                print(f"{label:32} {statistics.median(times):10.1f} {max(times):8.1f}")


if __name__ == "__main__":
    main()
