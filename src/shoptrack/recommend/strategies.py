"""Each block algorithm as ranked lists of catalogue rows: its own candidates, then fallbacks.

:func:`ranked` answers a list of row arrays, best first; serving takes from them in order
through the filters and always ends with the site's overall order, so a block is never empty
while the catalogue has a product that passes the filters. The fallbacks, in order: an
unknown product falls back to its category's popular products, then to popular ones; a
first-time visitor's personal block to popular products; a new shop (no events) to the
catalogue's newest products.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from shoptrack.recommend.algorithms.base import Recommender
from shoptrack.recommend.algorithms.data import IntArray
from shoptrack.recommend.catalog_view import CATEGORY_KEY_CACHE
from shoptrack.recommend.state import Context, SiteState

EMPTY = np.zeros(0, dtype=np.int64)
POPULAR_BY = ("purchases", "views", "carts", "decayed")
SIMILAR_POOL = 1000  # the most popular products of the category that "similar" scores
PREFIX_LIMIT = 50  # the visitor's most recent views given to a session model


def rank_of(state: SiteState, order: str = "decayed") -> IntArray:
    found = state.__dict__.setdefault("_ranks", {}).get(order)
    if found is None:
        found = np.empty(len(state.catalog), dtype=np.int64)
        found[state.orders[order]] = np.arange(len(state.catalog))
        state.__dict__["_ranks"][order] = found
    return found  # type: ignore[no-any-return]


def by_rank(state: SiteState, rows: IntArray, order: str = "decayed") -> IntArray:
    if rows.size == 0:
        return EMPTY
    return rows[np.argsort(rank_of(state, order)[rows], kind="stable")]


def _model_rows(
    state: SiteState, model: Recommender | None, prefix: IntArray, want: int
) -> IntArray:
    if model is None or prefix.size == 0 or model.n_items == 0:
        return EMPTY
    items, scores = model.recommend(prefix, want)
    return state.rows_of_items(items[scores > 0])


def category_rows(state: SiteState, ctx: Context, order: str = "decayed") -> IntArray:
    """The popular products of the request's category, else of the current product's deepest
    category; empty when neither is known."""
    catalog = state.catalog
    if ctx.category:
        rows = catalog.category_rows(ctx.category)
        if rows is not None:
            return _ranked_category(state, ctx.category, rows, order)
    for row in ctx.product_rows[:1]:
        ids = catalog.categories_of(row)
        if ids.size:
            known = catalog.categories.by_id
            depth = [known[int(c)].depth if int(c) in known else 0 for c in ids]
            deepest = int(ids[int(np.argmax(depth))])
            return _ranked_category(state, deepest, catalog.members(deepest), order)
    return EMPTY


def _ranked_category(state: SiteState, category: str | int, rows: IntArray, order: str) -> IntArray:
    """``rows`` by rank, sorted once per state (a sort of thousands of rows per request cost
    about as much as the rest of a popular block's answer)."""
    cache = state.ranked_categories
    found = cache.get((category, order))
    if found is None:
        if len(cache) >= CATEGORY_KEY_CACHE:
            cache.clear()  # many made-up keys: start again rather than grow
        found = by_rank(state, rows, order)
        found.flags.writeable = False  # shared by every request
        cache[(category, order)] = found
    return found


def _members_of(values: IntArray, sorted_rows: IntArray) -> npt.NDArray[np.bool_]:
    """``np.isin(values, sorted_rows)`` for an ascending ``sorted_rows`` (the attribute index
    is built in row order): a binary search per value instead of sorting both arrays, which
    cost most of a "similar" request when an attribute is shared by thousands of products."""
    at = np.searchsorted(sorted_rows, values)
    found: npt.NDArray[np.bool_] = sorted_rows[np.minimum(at, sorted_rows.size - 1)] == values
    return found


def similar_rows(state: SiteState, ctx: Context) -> IntArray:
    """Same category, then shared attributes and brand, then a close price."""
    if not ctx.product_rows:
        return EMPTY
    row = ctx.product_rows[0]
    catalog = state.catalog
    pool = category_rows(state, Context(product_rows=[row]))[:SIMILAR_POOL]
    pool = pool[pool != row]
    if pool.size == 0:
        return EMPTY
    score = np.ones(pool.size)
    details = catalog.details[row]
    attributes: dict[str, list[str]] = details.get("attributes", {})
    pairs = [(n.casefold(), str(v).strip().casefold()) for n, vs in attributes.items() for v in vs]
    if details.get("brand"):
        pairs.append(("brand", str(details["brand"]).strip().casefold()))
    for pair in pairs:
        rows = catalog.attr_index.get(pair)
        if rows is not None and rows.size:
            score += _members_of(pool, rows)
    price = catalog.price[row]
    if np.isfinite(price) and price > 0:
        other = catalog.price[pool]
        with np.errstate(invalid="ignore", divide="ignore"):
            distance = np.abs(np.log(other / price)) / np.log(2.0)
        score += np.nan_to_num(np.clip(1.0 - distance, 0.0, 1.0))
    order = np.lexsort((np.arange(pool.size), -score))  # pool is in popularity order already
    ranked_pool: IntArray = pool[order]
    return ranked_pool


def _history_prefix(state: SiteState, rows: list[int]) -> IntArray:
    return state.items_of_rows(rows[-PREFIX_LIMIT:])


def ranked(
    state: SiteState, algorithm: str, params: dict[str, Any], ctx: Context, want: int
) -> list[IntArray]:
    """Candidate rows of ``algorithm``, best first, followed by its fallbacks.

    Each branch works out only what it returns (the blocks that never fall back on the
    category do not look it up)."""
    orders = state.orders
    model = state.model
    by = str(params.get("by", "decayed"))
    by = by if by in POPULAR_BY else "decayed"
    popular = orders[by]
    product_items = state.items_of_rows(ctx.product_rows)
    personal_model = model.session_models.get("vstan-blend")

    if algorithm == "popular":
        return [popular]
    if algorithm == "popular-category":
        return [category_rows(state, ctx, by), popular]
    if algorithm == "new":
        return [state.new_order]
    if algorithm == "trending":
        trending = orders["trending"]
        growing = int(np.count_nonzero(state.scores["trending"] > 0))
        return [trending[:growing], orders["decayed"]]
    if algorithm == "recently-viewed":
        recent = list(dict.fromkeys(reversed(ctx.viewed)))
        return [np.asarray(recent, dtype=np.int64), popular]
    if algorithm == "similar":
        return [similar_rows(state, ctx), category_rows(state, ctx, by), popular]
    if algorithm == "also-viewed":
        last = product_items[-1:] if product_items.size else EMPTY
        return [
            _model_rows(state, model.also_viewed, last, want),
            category_rows(state, ctx, by),
            popular,
        ]
    if algorithm == "bought-together":
        together = _model_rows(state, model.bought_together, product_items, want)
        last = product_items[-1:] if product_items.size else EMPTY
        viewed = _model_rows(state, model.also_viewed, last, want)
        return [together, viewed, category_rows(state, ctx, by), popular]
    if algorithm == "cart-complements":
        cart = product_items if product_items.size else state.items_of_rows(ctx.cart)
        together = _model_rows(state, model.bought_together, cart, want)
        viewed = _model_rows(state, model.also_viewed, cart[-1:], want)
        return [together, viewed, popular]
    if algorithm in ("personal", "personal-category"):
        personal = _model_rows(state, personal_model, _history_prefix(state, ctx.viewed), want)
        if algorithm == "personal":
            return [personal, popular]
        in_category = category_rows(state, ctx, by)
        if in_category.size:
            allowed = np.zeros(len(state.catalog), dtype=bool)
            allowed[in_category] = True
            return [personal[allowed[personal]], in_category, popular]
        return [personal, popular]
    # The next-item session models: the current session (and the product on screen).
    session = list(ctx.session_viewed)
    for row in ctx.product_rows[:1]:
        if not session or session[-1] != row:
            session.append(row)
    name = "vstan-blend" if algorithm == "next-item" else algorithm
    chosen = model.session_models.get(name, personal_model)
    nxt = _model_rows(state, chosen, _history_prefix(state, session), want)
    last = product_items[-1:] if product_items.size else EMPTY
    return [
        nxt,
        _model_rows(state, model.also_viewed, last, want),
        category_rows(state, ctx, by),
        popular,
    ]
