"""The demo's recommendation blocks: two live A/B tests, their history dated into the month."""

from __future__ import annotations

from sqlalchemy import Engine, func, select, update

from shoptrack.demo.browsing import PlacedBlock
from shoptrack.demo.sessions import DAY_MS
from shoptrack.recommend.blocks import BlockStore
from shoptrack.store.tables import rec_block_changes, rec_blocks


def placed_blocks(store: BlockStore, site_id: str) -> list[PlacedBlock]:
    """Two live blocks, each an A/B test; the second variants are the better ones."""
    home = store.create(
        site_id,
        {"name": "Home: picked for you", "page_type": "main", "count": 4,
         "title": "Picked for you"},
        [{"algorithm": "popular", "weight": 1}, {"algorithm": "trending", "weight": 1}],
        status="live", actor="demo",
    )  # fmt: skip
    product = store.create(
        site_id,
        {"name": "Product page: you may also like", "page_type": "product", "count": 4,
         "title": "You may also like", "filters": {"in_stock": True}},
        [{"algorithm": "also-viewed", "weight": 1}, {"algorithm": "vstan-blend", "weight": 1}],
        status="live", actor="demo",
    )  # fmt: skip
    store.update(site_id, product.block_id, {"title": "Customers also viewed"}, actor="demo")
    return [
        PlacedBlock(home, "main", dict(zip([v.variant_id for v in home.variants], (0.05, 0.08),
                                           strict=True))),
        PlacedBlock(product, "product", dict(zip([v.variant_id for v in product.variants],
                                                 (0.07, 0.11), strict=True))),
    ]  # fmt: skip


def backdate_blocks(engine: Engine, site_id: str, now: int) -> None:
    """Date the blocks' history into the month of traffic: made before it, retitled midway.

    The blocks are made now through the block store, but the traffic they show in is a
    month old; the report's chart marks each change on its day, so the history is moved to
    where a shop's would be (the store has no "when" of its own, on purpose).
    """
    changes = rec_block_changes.c
    with engine.begin() as conn:
        for version, at in ((1, now - 31 * DAY_MS), (2, now - 12 * DAY_MS)):
            conn.execute(
                update(rec_block_changes)
                .where(changes.site_id == site_id, changes.version == version)
                .values(at=at)
            )
        last_change = (
            select(func.max(changes.at))
            .where(changes.site_id == site_id, changes.block_id == rec_blocks.c.block_id)
            .scalar_subquery()
        )
        conn.execute(
            update(rec_blocks)
            .where(rec_blocks.c.site_id == site_id)
            .values(created_at=now - 31 * DAY_MS, updated_at=last_change)
        )
