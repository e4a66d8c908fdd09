"""The live catalogue of one site as arrays in memory, and filters as boolean masks over it.

Serving never queries products per request: it loads the site's live generation once (and
again when the catalogue changes), then a filter is a mask over catalogue rows, built once
per distinct filter and kept in a small cache, and a ranked list of rows is filtered by
indexing that mask.

Filter rules (``include`` / ``exclude`` / ``should``: lists of ``{name, values}``): the name
``category`` matches a ``categoryKey`` the way the catalogue API does (the category, by id,
path or name, and everything below it); ``brand`` the brand; any other name the product's
attribute of that name. Values compare case-insensitively. A product passes ``include`` when
every rule has a matching value, is removed by ``exclude`` when any rule matches, and
``should`` ranks products passing every should rule first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from sqlalchemy import Connection, func, select

from shoptrack.catalog.categories import CategoryIndex
from shoptrack.catalog.store_ops import loads_dict, loads_list, read_state
from shoptrack.recommend.algorithms.data import FloatArray, IntArray
from shoptrack.store.tables import catalog_history, catalog_product_categories, catalog_products

BoolArray = npt.NDArray[np.bool_]
MASK_CACHE = 256
CATEGORY_KEY_CACHE = 4096


@dataclass(frozen=True)
class Masks:
    hard: BoolArray
    should: BoolArray | None


@dataclass
class CatalogView:
    keys: list[str]
    titles: list[str | None]
    links: list[str | None]
    images: list[str | None]
    currencies: list[str | None]
    details: list[dict[str, Any]]  # the remaining feed fields, for all_fields
    price: FloatArray  # NaN when unknown
    in_stock: BoolArray  # unknown stock counts as in stock
    group: IntArray  # item_group_id as a number per distinct value, -1 for none
    is_new: BoolArray
    first_seen: FloatArray  # ms; 0 when unknown
    cat_offsets: IntArray  # CSR: the category ids of row r
    cat_ids: IntArray
    categories: CategoryIndex
    attr_index: dict[tuple[str, str], IntArray]
    stamp: tuple[int, int, int] = (0, 0, 0)
    row_of: dict[str, int] = field(default_factory=dict)
    _masks: OrderedDict[str, Masks] = field(default_factory=OrderedDict)
    _members: dict[int, IntArray] = field(default_factory=dict)
    _by_key: dict[str, IntArray | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.row_of = {k: i for i, k in enumerate(self.keys)}

    def __len__(self) -> int:
        return len(self.keys)

    # --- categories ------------------------------------------------------------------------

    def categories_of(self, row: int) -> IntArray:
        return self.cat_ids[self.cat_offsets[row] : self.cat_offsets[row + 1]]

    def rows_in(self, category_ids: set[int] | IntArray) -> IntArray:
        """Rows of products in any of ``category_ids``."""
        ids = (
            np.fromiter(category_ids, dtype=np.int64)
            if isinstance(category_ids, set)
            else category_ids
        )
        if ids.size == 0 or self.cat_ids.size == 0:
            return np.zeros(0, dtype=np.int64)
        hit = np.isin(self.cat_ids, ids)
        owners = np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.cat_offsets))
        return np.unique(owners[hit])

    def members(self, category_id: int) -> IntArray:
        """Rows of one category and everything below it (cached)."""
        found = self._members.get(category_id)
        if found is None:
            ids = {category_id}
            stack = [category_id]
            while stack:
                for child in self.categories.children.get(stack.pop(), ()):
                    if child not in ids:
                        ids.add(child)
                        stack.append(child)
            found = self._members[category_id] = self.rows_in(ids)
        return found

    def category_rows(self, key: str) -> IntArray | None:
        """Rows a ``categoryKey`` names; None when it names no known category."""
        if key in self._by_key:
            return self._by_key[key]
        ids = self.categories.match(key)
        found = self.rows_in(ids) if ids else None
        if len(self._by_key) >= CATEGORY_KEY_CACHE:
            self._by_key.clear()  # many made-up keys: start again rather than grow
        self._by_key[key] = found  # scanning every product's categories cost ~1 ms a request
        return found

    # --- filters ---------------------------------------------------------------------------

    def _rule_mask(self, rule: dict[str, Any]) -> BoolArray:
        name = str(rule["name"]).strip().casefold()
        values = [str(v).strip().casefold() for v in rule["values"]]
        mask = np.zeros(len(self), dtype=bool)
        if name in ("category", "categories", "category_key"):
            for value in values:
                rows = self.category_rows(value)
                if rows is not None:
                    mask[rows] = True
            return mask
        for value in values:
            rows = self.attr_index.get((name, value))
            if rows is not None:
                mask[rows] = True
        return mask

    def masks(self, filters: dict[str, Any]) -> Masks:
        """The hard mask (stock, price, include, exclude) and the should mask of ``filters``."""
        key = orjson.dumps(filters, option=orjson.OPT_SORT_KEYS).decode()
        with self._lock:
            cached = self._masks.get(key)
            if cached is not None:
                self._masks.move_to_end(key)
                return cached
        hard = np.ones(len(self), dtype=bool)
        if filters.get("in_stock", True):
            hard &= self.in_stock
        low, high = filters.get("price_min"), filters.get("price_max")
        if low is not None:
            hard &= self.price >= float(low)
        if high is not None:
            hard &= self.price <= float(high)
        for rule in filters.get("include") or ():
            hard &= self._rule_mask(rule)
        for rule in filters.get("exclude") or ():
            hard &= ~self._rule_mask(rule)
        should: BoolArray | None = None
        for rule in filters.get("should") or ():
            part = self._rule_mask(rule)
            should = part if should is None else should & part
        masks = Masks(hard, should)
        with self._lock:
            self._masks[key] = masks
            while len(self._masks) > MASK_CACHE:
                self._masks.popitem(last=False)
        return masks

    # --- output ----------------------------------------------------------------------------

    def product(self, row: int, all_fields: bool) -> dict[str, Any]:
        price = float(self.price[row])
        out: dict[str, Any] = {
            "product_id": self.keys[row],
            "name": self.titles[row],
            "price": None if np.isnan(price) else price,
            "currency": self.currencies[row],
            "image": self.images[row],
            "in_stock": bool(self.in_stock[row]),
        }
        if all_fields:
            out.update(self.details[row])
        return out


def catalog_stamp(conn: Connection, site_id: str) -> tuple[int, int, int]:
    """(live generation, last product change, product count): changes when the catalogue does."""
    generation = read_state(conn, site_id).generation
    p = catalog_products.c
    row = conn.execute(
        select(func.coalesce(func.max(p.updated_at), 0), func.count()).where(
            p.site_id == site_id, p.generation == generation
        )
    ).one()
    return generation, int(row[0]), int(row[1])


def load_catalog(conn: Connection, site_id: str) -> CatalogView:
    stamp = catalog_stamp(conn, site_id)
    generation = stamp[0]
    p = catalog_products.c
    rows = conn.execute(
        select(
            p.product_key,
            p.title,
            p.description,
            p.link,
            p.image_link,
            p.brand,
            p.availability,
            p.item_group_id,
            p.is_new,
            p.currency,
            p.regular_price,
            p.sale_price,
            p.price,
            p.in_stock,
            p.categories,
            p.attributes,
        )
        .where(p.site_id == site_id, p.generation == generation)
        .order_by(p.product_key)
    ).all()
    n = len(rows)
    row_of = {r.product_key: i for i, r in enumerate(rows)}
    links = catalog_product_categories.c
    cats: dict[int, list[int]] = defaultdict(list)
    for key, cid in conn.execute(
        select(links.product_key, links.category_id).where(
            links.site_id == site_id, links.generation == generation
        )
    ):
        at = row_of.get(key)
        if at is not None:
            cats[at].append(int(cid))
    h = catalog_history.c
    first_seen = np.zeros(n)
    for key, at in conn.execute(
        select(h.product_key, func.min(h.at)).where(h.site_id == site_id).group_by(h.product_key)
    ):
        position = row_of.get(key)
        if position is not None:
            first_seen[position] = float(at)
    groups: dict[str, int] = {}
    attr_lists: dict[tuple[str, str], list[int]] = defaultdict(list)
    details: list[dict[str, Any]] = []
    for i, r in enumerate(rows):
        attributes = loads_dict(r.attributes)
        for name, values in attributes.items():
            # The feed's ``color`` is stored as ``tags_color``: a filter may use either name.
            names = {name.casefold(), name.casefold().removeprefix("tags_")}
            for value in values:
                for alias in names:
                    attr_lists[(alias, str(value).strip().casefold())].append(i)
        if r.brand:
            attr_lists[("brand", r.brand.strip().casefold())].append(i)
        details.append(
            {
                "description": r.description,
                "brand": r.brand,
                "regular_price": r.regular_price,
                "sale_price": r.sale_price,
                "availability": r.availability,
                "categories": loads_list(r.categories),
                "item_group_id": r.item_group_id,
                "is_new": r.is_new,
                "attributes": attributes,
            }
        )
    lengths = np.array([len(cats.get(i, ())) for i in range(n)], dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = [c for i in range(n) for c in cats.get(i, ())]
    return CatalogView(
        keys=[r.product_key for r in rows],
        titles=[r.title for r in rows],
        links=[r.link for r in rows],
        images=[r.image_link for r in rows],
        currencies=[r.currency for r in rows],
        details=details,
        price=np.array([np.nan if r.price is None else r.price for r in rows], dtype=np.float64),
        in_stock=np.array([r.in_stock is not False for r in rows], dtype=bool),
        group=np.array(
            [
                groups.setdefault(r.item_group_id, len(groups)) if r.item_group_id else -1
                for r in rows
            ],
            dtype=np.int64,
        ),
        is_new=np.array([bool(r.is_new) for r in rows], dtype=bool),
        first_seen=first_seen,
        cat_offsets=offsets,
        cat_ids=np.array(flat, dtype=np.int64),
        categories=CategoryIndex.load(conn, site_id),
        # Ascending (serving searches them: strategies._members_of).
        attr_index={k: np.unique(np.array(v, dtype=np.int64)) for k, v in attr_lists.items()},
        stamp=stamp,
    )


def view_from_keys(keys: list[str]) -> CatalogView:
    """A catalogue of bare product keys (a shop without a feed yet): ids only, all in stock."""
    n = len(keys)
    return CatalogView(
        keys=list(keys),
        titles=[None] * n,
        links=[None] * n,
        images=[None] * n,
        currencies=[None] * n,
        details=[{} for _ in range(n)],
        price=np.full(n, np.nan),
        in_stock=np.ones(n, dtype=bool),
        group=np.full(n, -1, dtype=np.int64),
        is_new=np.zeros(n, dtype=bool),
        first_seen=np.zeros(n),
        cat_offsets=np.zeros(n + 1, dtype=np.int64),
        cat_ids=np.zeros(0, dtype=np.int64),
        categories=CategoryIndex([]),
        attr_index={},
    )
