"""Trigger engine benchmark: scheduling cost per arriving event, and deciding open carts.

Run it from the repository root (not a test)::

    python bench/triggers.py [--carts 100000] [--database-url postgresql://…]

1. **Per arriving event**: the ``triggers`` processor alone over a log of carts and product
   views from ``--carts`` visitors (one cart change and two views each, plus 10 % orders), in
   the runner's batches: µs per event of the log (the processor's part of the worker's work).
2. **Deciding open carts**: every visitor is a contact with an e-mail and an open cart
   episode; the clock moves past the delay and the decider runs until nothing is due: the
   time to decide them all (each: the contact's history, caps, one message row), and per
   cart. Recommendations are left out (``recommender=None``): their cost is the
   recommendation service's (``bench/recommend.py``).

The store is a fresh SQLite file, or a fresh schema of the PostgreSQL database given with
``--database-url`` (dropped afterwards).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path

import orjson
from sqlalchemy import Engine, insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from _store import scratch_store  # noqa: E402
from shoptrack.identity.crypto import Keyring, purpose_contact  # noqa: E402
from shoptrack.processing.runner import ProcessorRunner  # noqa: E402
from shoptrack.store.db import create_store_engine  # noqa: E402
from shoptrack.store.migrate import upgrade  # noqa: E402
from shoptrack.store.sites_repo import SiteRepository  # noqa: E402
from shoptrack.store.tables import contact_visitors, contacts, events  # noqa: E402
from shoptrack.triggers.decide import Decider  # noqa: E402
from shoptrack.triggers.model import Rule  # noqa: E402
from shoptrack.triggers.rules import read_rules, write_rule  # noqa: E402
from shoptrack.triggers.schedule import TriggerProcessor  # noqa: E402

HOUR_MS = 3_600_000


def store(database_url: str | None) -> AbstractContextManager[str]:
    return scratch_store(database_url, "bench_triggers")


def event(site_id: str, seq_hint: int, kind: str, visitor: str, at: int, **data: object) -> dict:
    body = {"type": kind, "visitor_id": visitor, "source": "browser", **data}
    return {
        "site_id": site_id,
        "event_id": f"e{seq_hint}",
        "type": kind,
        "occurred_at": at,
        "received_at": at,
        "visitor_id": visitor,
        "session_id": f"s-{visitor}",
        "contact_id": None,
        "source": "browser",
        "cart_guid": data.get("cart_guid"),
        "data": orjson.dumps(body).decode(),
        "identity_enc": None,
    }


def fill(engine: Engine, keyring: Keyring, site_id: str, carts: int, start: int) -> int:
    """Contacts, their visitor links and the log; the number of events written."""
    written = 0
    chunk = 2000
    for first in range(0, carts, chunk):
        people, links, rows = [], [], []
        for n in range(first, min(carts, first + chunk)):
            visitor, contact_id = f"v{n}", f"ct_{n:010d}"
            profile = {"email": f"person{n}@example.com"}
            people.append(
                {
                    "site_id": site_id,
                    "contact_id": contact_id,
                    "created_at": start,
                    "updated_at": start,
                    "source": "api",
                    "email_bidx": f"b{n}",
                    "profile_enc": keyring.encrypt_json(
                        profile, purpose_contact(site_id, contact_id)
                    ),
                }
            )
            links.append(
                {"site_id": site_id, "visitor_id": visitor, "contact_id": contact_id,
                 "linked_at": start, "last_seq": None}
            )  # fmt: skip
            at = start + n
            line = {"key": f"p{n % 500}", "price": 10.0, "quantity": 1}
            rows.append(event(site_id, 4 * n, "ProductPage", visitor, at, products=[line]))
            rows.append(event(site_id, 4 * n + 1, "ProductPage", visitor, at, products=[line]))
            rows.append(
                event(site_id, 4 * n + 2, "StatusCart", visitor, at, products=[line],
                      cart_guid=f"g{n}")
            )  # fmt: skip
            if n % 10 == 0:  # one in ten orders: its cart episode ends
                rows.append(
                    event(site_id, 4 * n + 3, "PurchasedItems", f"other{n}", at, products=[line],
                          cart_guid=f"g{n}")
                )  # fmt: skip
        with engine.begin() as conn:
            conn.execute(insert(contacts), people)
            conn.execute(insert(contact_visitors), links)
            conn.execute(insert(events), rows)
        written += len(rows)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--carts", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with store(args.database_url) as url, tempfile.TemporaryDirectory() as keys:
        engine = create_store_engine(url)
        upgrade(engine)
        keyring = Keyring.load_or_create(Path(keys) / "bench.keys")
        site, _ = SiteRepository(engine).create("Bench shop")
        start = int(time.time() * 1000)
        with engine.begin() as conn:
            for rule in (Rule.ABANDONED_CART, Rule.ABANDONED_BROWSE):
                settings = read_rules(conn, site.site_id)[rule]
                write_rule(conn, site.site_id, settings.__class__(rule, enabled=True))
        count = fill(engine, keyring, site.site_id, args.carts, start)

        runner = ProcessorRunner(engine, [TriggerProcessor()], batch_size=500)
        began = time.perf_counter()
        runner.drain(timeout_s=24 * 3600)
        scheduled = time.perf_counter() - began
        print(f"backend: {engine.dialect.name}, carts: {args.carts}, events: {count}")
        print(f"schedule: {scheduled:.2f} s for the log, {scheduled / count * 1e6:.1f} µs/event")

        now = start + args.carts + 2 * HOUR_MS
        decider = Decider(engine, keyring, clock=lambda: now, batch_size=1000)
        began = time.perf_counter()
        decided = messages = 0
        while True:
            counts = decider.run_due()
            if counts.due == 0:
                break
            decided += counts.due
            messages += counts.messages
        took = time.perf_counter() - began
        print(
            f"decide: {decided} due episodes ({messages} messages) in {took:.1f} s, "
            f"{took / max(1, decided) * 1000:.2f} ms each"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
