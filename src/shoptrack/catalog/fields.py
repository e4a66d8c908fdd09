"""One feed item's raw fields (any format) → the catalogue's product fields.

Every parser hands over a :class:`RawItem`: field names lower-cased without their namespace
or ``g:`` prefix (``g:image_link``, ``image_link`` and a CSV column ``image link`` are the same
field), each with the list of its values in document order. The mapping below is the only
place that knows what the Google Merchant fields mean; every field it does not know is kept as
an attribute ``tags_<name>``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache

from shoptrack.errors import ShoptrackError
from shoptrack.events.values import parse_price

MAX_KEY_LENGTH = 255
MAX_CATEGORY_DEPTH = 16
MAX_LEVEL_LENGTH = 200

KNOWN_FIELDS = frozenset(
    {
        "id",
        "title",
        "description",
        "link",
        "image_link",
        "brand",
        "availability",
        "price",
        "sale_price",
        "google_product_category",
        "product_type",
        "new",
        "item_group_id",
    }
)
CATEGORY_FIELDS = ("google_product_category", "product_type")

_IN_STOCK = frozenset(
    {"in stock", "in_stock", "instock", "available", "limited availability",
     "limited_availability", "available for order", "available_for_order", "1", "true", "yes"}
)  # fmt: skip
_OUT_OF_STOCK = frozenset(
    {"out of stock", "out_of_stock", "outofstock", "sold out", "discontinued", "preorder",
     "pre-order", "backorder", "0", "false", "no"}
)  # fmt: skip
_TRUE = frozenset({"1", "true", "yes", "y", "new"})
_FALSE = frozenset({"0", "false", "no", "n", "used", "refurbished"})
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=4096)
def field_name(raw: str) -> str:
    """``g:Image Link`` / ``{ns}image_link`` / ``image-link`` → ``image_link``."""
    name = raw.rsplit("}", 1)[-1].strip().lower()
    if name.startswith("g:"):
        name = name[2:]
    return _SPACES.sub("_", name.replace("-", "_"))


@dataclass(slots=True)
class RawItem:
    line: int
    fields: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, value: str) -> None:
        self.fields.setdefault(name, []).append(value)


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with one item; the item is imported unless ``fatal``."""

    line: int
    field: str | None
    message: str
    fatal: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass(slots=True)
class FeedItem:
    key: str
    line: int
    title: str | None = None
    description: str | None = None
    link: str | None = None
    image_link: str | None = None
    brand: str | None = None
    availability: str | None = None
    in_stock: bool | None = None
    regular_price: float | None = None
    sale_price: float | None = None
    currency: str | None = None
    categories: list[str] = field(default_factory=list)
    item_group_id: str | None = None
    is_new: bool | None = None
    attributes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def price(self) -> float | None:
        """What the product sells for now: the sale price when there is one."""
        return self.sale_price if self.sale_price is not None else self.regular_price


@lru_cache(maxsize=16384)
def normalize_path(text: str) -> str | None:
    """``' Shoes >Sneakers>  Running '`` → ``'Shoes > Sneakers > Running'`` (None when empty)."""
    levels = [_SPACES.sub(" ", level).strip()[:MAX_LEVEL_LENGTH] for level in text.split(">")]
    levels = [level for level in levels if level][:MAX_CATEGORY_DEPTH]
    return " > ".join(levels) if levels else None


@lru_cache(maxsize=65536)
def category_id(path: str) -> int:
    """A stable id for a category path: the same in every import and on every database.

    48 bits keep it exact in JavaScript clients; collisions need ~10^7 categories per site.
    """
    digest = hashlib.blake2b(path.casefold().encode(), digest_size=6).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True, slots=True)
class CategoryNode:
    category_id: int
    parent_id: int | None
    name: str
    path: str
    depth: int


@lru_cache(maxsize=16384)
def category_nodes(path: str) -> tuple[CategoryNode, ...]:
    """The node of ``path`` and of each of its ancestors, root first."""
    levels = path.split(" > ")
    nodes: list[CategoryNode] = []
    parent: int | None = None
    for depth in range(len(levels)):
        sub_path = " > ".join(levels[: depth + 1])
        node_id = category_id(sub_path)
        nodes.append(CategoryNode(node_id, parent, levels[depth], sub_path, depth))
        parent = node_id
    return tuple(nodes)


def parse_availability(value: str) -> bool | None:
    lowered = _SPACES.sub(" ", value.strip().lower())
    if lowered in _IN_STOCK:
        return True
    if lowered in _OUT_OF_STOCK:
        return False
    return None


def attribute_name(name: str) -> str:
    if name.startswith("tags_"):
        return name
    if name.startswith("tag_"):
        return "tags_" + name[4:]
    return "tags_" + name


LINK_FIELDS = ("link", "image_link")


def web_address(value: str | None) -> str | None:
    """``value`` when it is an http(s) address, else None.

    Links and images of products end up in pages (recommendation blocks the shop renders from
    ``getRecommendations``), where a ``javascript:`` or ``data:`` address would run or show
    whatever its author wrote: only web addresses are stored.
    """
    if not value:
        return None
    scheme, colon, _ = value.partition(":")
    return value if colon and scheme.strip().lower() in ("http", "https") else None


def _first(values: list[str] | None) -> str | None:
    for value in values or ():
        if value:
            return value
    return None


def build_item(raw: RawItem) -> tuple[FeedItem | None, list[Problem]]:
    """The product of one feed item, and what was wrong with it (None when it has no id)."""
    problems: list[Problem] = []
    values = {name: [v.strip() for v in vs] for name, vs in raw.fields.items()}
    key = _first(values.get("id"))
    if key is None:
        return None, [Problem(raw.line, "id", "item without g:id (the product key)", True)]
    if len(key) > MAX_KEY_LENGTH:
        message = f"g:id is longer than {MAX_KEY_LENGTH} characters"
        return None, [Problem(raw.line, "id", message, True)]
    item = FeedItem(key=key, line=raw.line)
    item.title = _first(values.get("title"))
    item.description = _first(values.get("description"))
    for name in LINK_FIELDS:
        given = _first(values.get(name))
        address = web_address(given)
        if given is not None and address is None:
            scheme = given.partition(":")[0][:20] if ":" in given else "no scheme"
            message = f"{name} is not an http(s) address ({scheme!r}): not stored"
            problems.append(Problem(raw.line, name, message))
        setattr(item, name, address)
    item.brand = _first(values.get("brand"))
    group = _first(values.get("item_group_id"))
    item.item_group_id = group[:MAX_KEY_LENGTH] if group else None

    availability = _first(values.get("availability"))
    if availability is not None:
        item.availability = availability[:32]
        item.in_stock = parse_availability(availability)
        if item.in_stock is None:
            message = f"unknown availability {availability[:40]!r}"
            problems.append(Problem(raw.line, "availability", message))

    for name in ("price", "sale_price"):
        text = _first(values.get(name))
        if text is None:
            continue
        try:
            amount, currency = parse_price(text, name)
        except ShoptrackError:
            problems.append(Problem(raw.line, name, f"cannot read {text[:40]!r} as a price"))
            continue
        if name == "price":
            item.regular_price = amount
        else:
            item.sale_price = amount
        item.currency = item.currency or currency

    new_flag = _first(values.get("new"))
    if new_flag is not None:
        lowered = new_flag.lower()
        item.is_new = True if lowered in _TRUE else False if lowered in _FALSE else None
        if item.is_new is None:
            problems.append(Problem(raw.line, "new", f"expected true or false, got {new_flag!r}"))

    seen: set[str] = set()
    for name in CATEGORY_FIELDS:
        for text in values.get(name, ()):
            path = normalize_path(text)
            if path is not None and path.casefold() not in seen:
                seen.add(path.casefold())
                item.categories.append(path)

    for name, vs in values.items():
        if name not in KNOWN_FIELDS:
            kept = [v for v in vs if v]
            if kept:
                item.attributes.setdefault(attribute_name(name), []).extend(kept)
    return item, problems
