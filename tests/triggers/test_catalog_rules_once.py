"""Exactly once for the catalogue rules: two watchers and two deciders at once, a contact
watching from two devices: one message per (contact, product change)."""

from __future__ import annotations

from shoptrack.store.db import create_store_engine
from shoptrack.triggers.decide import Decider
from shoptrack.triggers.watcher import CatalogWatcher, WatchCounts
from tests.triggers.catalog_changes import CatalogShop, catalog_shop_fixture  # noqa: F401
from tests.triggers.test_delivery_loop import at_once


def test_two_workers_at_once_make_one_message_per_contact_and_change(
    catalog_shop: CatalogShop,
) -> None:
    shop = catalog_shop
    shop.import_feed(p1=("100.00 USD", "in stock"))
    shop.configure("price_drop", enabled=True, delay_seconds=60, cap_days=0)
    for i in range(6):
        for device in ("laptop", "phone"):
            visitor = f"{device}-{i}"
            shop.identify(visitor, user_email=f"person{i}@example.com")
            shop.view_product(visitor, "p1", "100")
    shop.drain()
    engines = [create_store_engine(shop.services.settings.database_url) for _ in range(2)]
    try:
        watchers = [CatalogWatcher(e, clock=shop.clock) for e in engines]
        at_once(*(w.run for w in watchers))  # the first look: nothing qualifies yet
        shop.update("p1", "80.00 USD")
        shop.clock.advance(2)
        woken: list[WatchCounts] = at_once(*(w.run for w in watchers))
        assert sum(c.woken for c in woken) == 12  # every device once, by one of the two
        deciders = [Decider(e, shop.services.keyring, clock=shop.clock) for e in engines]
        at_once(*(d.run_due for d in deciders))
        for decider in deciders:  # what one of them left for the next round
            decider.run_due()
    finally:
        for e in engines:
            e.dispose()
    rows = shop.messages()
    assert len(rows) == 6 and {r.status for r in rows} == {"pending"}
    assert len({r.contact_id for r in rows}) == 6
    assert {c.state for c in shop.candidates()} == {"done"}
    # Another round changes nothing: each change is decided.
    shop.engine().tick()
    assert len(shop.messages()) == 6 and len(shop.email.sent) == 6
