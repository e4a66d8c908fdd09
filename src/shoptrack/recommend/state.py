"""What one serving process holds in memory for a site, and the request context.

A :class:`SiteState` joins three things loaded from the store: the live catalogue
(:class:`~.catalog_view.CatalogView`), the newest trained model with its folded-in counters
(:class:`~.model.SiteModel`), and the site's blocks. The model indexes items by product key
as seen in events; the catalogue by its own rows; ``item_row`` / ``row_item`` translate, and
every score is carried over to catalogue rows once, so a request only indexes arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shoptrack.recommend.algorithms.data import FloatArray, IntArray
from shoptrack.recommend.blocks import Block, Variant
from shoptrack.recommend.catalog_view import CatalogView, view_from_keys
from shoptrack.recommend.model import Counters, SiteModel

SCORE_NAMES = ("views", "purchases", "carts", "decayed", "trending")


@dataclass
class Context:
    """One request: the page's products and category, and the visitor's recent history."""

    product_rows: list[int] = field(default_factory=list)  # current product(s) / the cart
    category: str | None = None
    viewed: list[int] = field(default_factory=list)  # visitor's viewed rows, oldest first
    session_viewed: list[int] = field(default_factory=list)  # of the current session
    cart: list[int] = field(default_factory=list)
    purchased: list[int] = field(default_factory=list)
    now: float | None = None


@dataclass
class SiteState:
    site_id: str
    catalog: CatalogView
    model: SiteModel
    counters: Counters
    item_row: IntArray
    row_item: IntArray
    scores: dict[str, FloatArray]
    orders: dict[str, IntArray]
    new_order: IntArray
    blocks: dict[int, Block]
    snapshot_id: int = 0  # the newest snapshot in the store when loaded
    model_id: int = 0  # the snapshot ``model`` came from (older if the newest did not load)
    counters_stamp: int = 0
    blocks_stamp: tuple[int, int] = (0, 0)
    checked_at: float = 0.0
    # Served products' JSON by (row, container type, all fields): serving.render_json.
    encoded: dict[tuple[int, str, bool], bytes] = field(default_factory=dict)
    # A category's rows in a ranking's order, by (category key or id, order): read-only
    # arrays, see strategies.category_rows.
    ranked_categories: dict[tuple[str | int, str], IntArray] = field(default_factory=dict)
    # Kept histories as rows, by the history list's id (the list is held: ids stay unique).
    digests: dict[int, tuple[list[Any], Any]] = field(default_factory=dict)

    def variant(self, block_id: int, variant_id: int) -> tuple[Block, Variant] | None:
        block = self.blocks.get(block_id)
        found = block.variant(variant_id) if block is not None else None
        return None if block is None or found is None else (block, found)

    def rows_of_items(self, items: IntArray) -> IntArray:
        rows = self.item_row[items] if items.size else items
        return rows[rows >= 0]

    def items_of_rows(self, rows: list[int]) -> IntArray:
        if not rows:
            return np.zeros(0, dtype=np.int64)
        items = self.row_item[np.asarray(rows, dtype=np.int64)]
        return items[items >= 0]


def _order(primary: FloatArray, *ties: FloatArray) -> IntArray:
    """Rows by ``primary`` descending, then each of ``ties`` descending, then row number."""
    n = primary.size
    keys = [np.arange(n)] + [-t for t in reversed(ties)] + [-primary]
    return np.lexsort(keys).astype(np.int64)


def build_state(
    site_id: str,
    catalog: CatalogView,
    model: SiteModel,
    counters: Counters,
    blocks: list[Block],
) -> SiteState:
    if len(catalog) == 0 and model.n_items:
        # No feed yet: recommend what the events know, with ids only.
        catalog = view_from_keys([str(k) for k in model.keys.tolist()])
    n_rows = len(catalog)
    model_index = model.index_of()
    item_row = np.full(model.n_items, -1, dtype=np.int64)
    row_item = np.full(n_rows, -1, dtype=np.int64)
    for row, key in enumerate(catalog.keys):
        item = model_index.get(key)
        if item is not None:
            item_row[item] = row
            row_item[row] = item
    known = row_item >= 0

    def carry(values: FloatArray) -> FloatArray:
        out = np.zeros(n_rows)
        if values.size:
            out[known] = values[row_item[known]]
        return out

    scores = {
        "views": carry(counters.views),
        "purchases": carry(counters.purchases),
        "carts": carry(counters.carts),
        "decayed": carry(counters.long),
        "trending": carry(counters.trending()),
    }
    # Ties (a new shop: all zero) fall to newer products, then catalogue order: never empty.
    newness = catalog.is_new.astype(np.float64) * 1e15 + catalog.first_seen
    base = (scores["decayed"], scores["purchases"], scores["views"], newness)
    orders = {
        "default": _order(*base),
        "views": _order(scores["views"], *base),
        "purchases": _order(scores["purchases"], *base),
        "carts": _order(scores["carts"], *base),
        "decayed": _order(*base),
        "trending": _order(scores["trending"], *base),
    }
    return SiteState(
        site_id=site_id,
        catalog=catalog,
        model=model,
        counters=counters,
        item_row=item_row,
        row_item=row_item,
        scores=scores,
        orders=orders,
        new_order=_order(newness, scores["decayed"]),
        blocks={b.block_id: b for b in blocks},
    )
