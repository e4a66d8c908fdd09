"""Next-basket evaluation (bought together, re-order) on Instacart-style order lines.

Each user's last order is the test basket; all earlier orders of all users are training
baskets. A model sees the user's earlier purchases, oldest first, as its prefix and proposes
``k`` products; HR@k is the share of users with at least one of them in the test basket,
precision@k the mean share of the ``k`` that were bought, recall@k the mean share of the
basket that was proposed.

The models are the session algorithms with a basket as a "session":

* ``popular`` — the most bought products, the same for everyone;
* ``bought-together`` — :class:`CoOccurrence` over baskets with the whole history as context
  (products bought in the same baskets as this user's products);
* ``reorder`` — :class:`SessionPopularity` over the history: the user's own products, most
  often bought first, the most recently bought first among equals, then popular ones;
* ``reorder+bought-together`` — a blend: the user's own products, then complements.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shoptrack.recommend.algorithms.base import Recommender
from shoptrack.recommend.algorithms.data import Clicks, IntArray, ItemIndex, Sessions
from shoptrack.recommend.algorithms.hybrid import Blend
from shoptrack.recommend.algorithms.popular import Popularity, SessionPopularity
from shoptrack.recommend.algorithms.rules import CoOccurrence


@dataclass(frozen=True)
class OrderLines:
    """One row per product in an order."""

    order_ids: IntArray
    user_ids: IntArray
    order_numbers: IntArray
    product_ids: IntArray
    cart_positions: IntArray


def read_instacart(path: Path) -> OrderLines:
    cols: dict[str, list[int]] = {
        k: [] for k in ("order_id", "user_id", "order_number", "product_id", "add_to_cart_order")
    }
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            for name, values in cols.items():
                # add_to_cart_order is written as a float ("3.0") in the sample.
                values.append(int(float(row[name])))
    arrays = {k: np.asarray(v, dtype=np.int64) for k, v in cols.items()}
    return OrderLines(
        order_ids=arrays["order_id"],
        user_ids=arrays["user_id"],
        order_numbers=arrays["order_number"],
        product_ids=arrays["product_id"],
        cart_positions=arrays["add_to_cart_order"],
    )


@dataclass(frozen=True)
class BasketSplit:
    index: ItemIndex
    train: Sessions
    histories: list[IntArray]  # per test user: earlier purchases (item indices), oldest first
    baskets: list[IntArray]  # per test user: the distinct known products of the last order


def split_last_basket(lines: OrderLines) -> BasketSplit:
    last_number = np.zeros(int(lines.user_ids.max()) + 1, dtype=np.int64)
    np.maximum.at(last_number, lines.user_ids, lines.order_numbers)
    is_test = lines.order_numbers == last_number[lines.user_ids]
    train_mask = ~is_test
    # Order lines in time: by order number, then the position in the cart.
    time = lines.order_numbers.astype(np.float64) + lines.cart_positions / 1e4
    train_clicks = Clicks(
        lines.order_ids[train_mask], lines.product_ids[train_mask], time[train_mask]
    )
    index = ItemIndex.from_keys(train_clicks.item_keys)
    train = Sessions.from_clicks(train_clicks, index)
    items = index.lookup(lines.product_ids)
    histories: list[IntArray] = []
    baskets: list[IntArray] = []
    order = np.lexsort((time, lines.user_ids))
    users = lines.user_ids[order]
    bounds = np.flatnonzero(np.diff(users)) + 1
    for rows in np.split(order, bounds):
        test_rows = rows[is_test[rows]]
        history_rows = rows[~is_test[rows]]
        basket = np.unique(items[test_rows])
        basket = basket[basket >= 0]
        if history_rows.size == 0 or basket.size == 0:
            continue  # no earlier order, or a basket only of never-seen products
        histories.append(items[history_rows])
        baskets.append(basket)
    return BasketSplit(index, train, histories, baskets)


BASKET_MODELS: dict[str, Callable[[], Recommender]] = {
    "popular": Popularity,
    "bought-together": lambda: CoOccurrence(context="all"),
    "reorder": SessionPopularity,
    "reorder+bought-together": lambda: Blend(
        [SessionPopularity(), CoOccurrence(context="all")], [1.0, 0.2]
    ),
}


def evaluate_baskets(split: BasketSplit, model: Recommender, k: int = 10) -> dict[str, Any]:
    model.fit(split.train)
    hits = 0
    precision = recall = 0.0
    for history, basket in zip(split.histories, split.baskets, strict=True):
        ranked, _ = model.recommend(history, k)
        found = int(np.isin(ranked, basket).sum())
        hits += found > 0
        precision += found / k
        recall += found / basket.size
    n = len(split.baskets)
    return {
        f"hr@{k}": round(hits / n, 4) if n else 0.0,
        f"precision@{k}": round(precision / n, 4) if n else 0.0,
        f"recall@{k}": round(recall / n, 4) if n else 0.0,
    }


def evaluate_basket_file(path: Path, k: int = 10) -> dict[str, Any]:
    split = split_last_basket(read_instacart(path))
    result: dict[str, Any] = {"users": len(split.baskets), "k": k}
    for name, make in BASKET_MODELS.items():
        result[name] = evaluate_baskets(split, make(), k)
    return result
