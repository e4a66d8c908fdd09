"""Reading any of the spec's payload shapes into the canonical fields.

The spec shows each event in several shapes: the section as an object or a list, items beside
or inside it (``Products``), the product inside ``Product``, ``Tags`` beside the section or
inside it, ``GUID`` and ``OrderNumber`` at either level, names in camelCase or snake_case. One
structural reader handles them all instead of one parser per call style, so a shape the spec
did not foresee but that carries the same fields is read the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shoptrack.errors import EventRejected, Reason
from shoptrack.events.model import Product
from shoptrack.events.types import SECTION_KEYS, EventType
from shoptrack.events.values import (
    normalize_tags,
    parse_currency,
    parse_flag,
    parse_key,
    parse_price,
    parse_quantity,
    tag_values,
)

KEY_NAMES = ("productKey", "product_id", "productId", "product_key")
PRICE_NAMES = ("price", "unit_price", "unitPrice")
CURRENCY_NAMES = ("currency", "price_currency_code", "currencyCode", "currency_code")
QUANTITY_NAMES = ("quantity", "qty")
STOCK_NAMES = ("isInStock", "is_in_stock", "inStock", "in_stock")
BLOCK_NAMES = ("container_type", "containerType")
_PRODUCT_FIELDS = frozenset(
    n.lower()
    for n in (
        *KEY_NAMES,
        *PRICE_NAMES,
        *CURRENCY_NAMES,
        *QUANTITY_NAMES,
        *STOCK_NAMES,
        *BLOCK_NAMES,
        "discount",
        "tags",
    )
)
# The GUID is stored in the event log's ``cart_guid`` column (String(128)).
MAX_GUID_LENGTH = 128
_ENVELOPE_KEYS = frozenset({"generalinfo", "tags", "guid", "ordernumber", "s_location"})


@dataclass(slots=True)
class NormalizedBody:
    products: list[Product] = field(default_factory=list)
    cart_guid: str | None = None
    order_number: str | None = None
    category_key: str | None = None
    search: dict[str, Any] | None = None
    tags: dict[str, list[str]] = field(default_factory=dict)
    location: str | None = None
    items_missing: bool = False


def pick(
    obj: dict[str, Any], names: tuple[str, ...], lowered: dict[str, str] | None = None
) -> tuple[str | None, Any]:
    """The first of ``names`` present in ``obj`` (case-insensitively) as (key, value).

    Among keys that differ only in case, the last one in ``obj`` is taken. ``lowered`` maps
    each lower-cased key of ``obj`` to its last spelling there: a caller that picks several
    fields from one object builds it once.
    """
    for name in names:
        if name in obj:
            return name, obj[name]
    rank = _lowered_rank(names)
    if lowered is not None:
        # The rank's names are in rank order; the map has the last key of each spelling.
        for name in rank:
            key = lowered.get(name)
            if key is not None:
                return key, obj[key]
        return None, None
    # Case-insensitive: one pass over the keys (this runs for every absent optional field).
    best = len(names)
    found: str | None = None
    for key in obj:
        index = rank.get(key.lower())
        if index is not None and index <= best:
            best, found = index, key
    if found is None:
        return None, None
    return found, obj[found]


# The name tuples are the code's own, never client data, so a plain dict stays small; asking
# it costs a fraction of asking an lru_cache, and pick() asks several times per product.
_RANKS: dict[tuple[str, ...], dict[str, int]] = {}


def _lowered_rank(names: tuple[str, ...]) -> dict[str, int]:
    """Each lower-cased name's position in ``names`` (its first one), in that order."""
    rank = _RANKS.get(names)
    if rank is None:
        rank = {}
        for index, name in enumerate(names):
            rank.setdefault(name.lower(), index)
        _RANKS[names] = rank
    return rank


def _path(base: str, key: str) -> str:
    return f"{base}.{key}" if base else key


def read_product(
    item: Any, path: str, etype: EventType, tags: dict[str, list[str]] | None = None
) -> Product:
    """One product; a ``Tags`` object inside it is merged into ``tags`` (the event's tags)."""
    if not isinstance(item, dict):
        raise EventRejected(Reason.INVALID_VALUE, f"{path}: expected a product object", path)
    # Seven fields are picked from one product: lower-case its keys once, not per field.
    spellings = [(name, name.lower()) for name in item]
    lowered = {low: name for name, low in spellings}
    key_name, key_value = pick(item, KEY_NAMES, lowered)
    key = parse_key(key_value, _path(path, key_name or KEY_NAMES[0]), required=False)
    price_name, price_value = pick(item, PRICE_NAMES, lowered)
    price, price_currency = parse_price(price_value, _path(path, price_name or "price"))
    currency_name, currency_value = pick(item, CURRENCY_NAMES, lowered)
    currency = parse_currency(currency_value, _path(path, currency_name or "currency"))
    quantity_name, quantity_value = pick(item, QUANTITY_NAMES, lowered)
    stock_name, stock_value = pick(item, STOCK_NAMES, lowered)
    block_name, block_value = pick(item, BLOCK_NAMES, lowered)
    discount_value = pick(item, ("discount",), lowered)[1]
    attributes: dict[str, list[str]] = {}
    extra: dict[str, Any] = {}
    for name, low in spellings:
        value = item[name]
        if low.startswith(("tag_", "tags_")):
            attributes[name.split("_", 1)[1]] = tag_values(value)
        elif low == "tags":
            if tags is not None:
                for tag, values in normalize_tags(value, _path(path, name)).items():
                    tags.setdefault(tag, []).extend(values)
        elif low not in _PRODUCT_FIELDS:
            extra[name] = value
    product = Product(
        key=key,
        price=price,
        currency=currency or price_currency,
        quantity=parse_quantity(quantity_value, _path(path, quantity_name or "quantity")),
        discount=parse_price(discount_value, _path(path, "discount"))[0],
        in_stock=parse_flag(stock_value, _path(path, stock_name or "isInStock")),
        block=parse_key(block_value, _path(path, block_name or "container_type"), required=False),
        attributes=attributes,
        extra=extra,
    )
    _require_product_fields(product, item, path, etype)
    return product


def _require_product_fields(
    product: Product, item: dict[str, Any], path: str, etype: EventType
) -> None:
    def missing(name: str) -> EventRejected:
        field_path = _path(path, name)
        return EventRejected(Reason.MISSING_FIELD, f"{field_path} is required", field_path)

    key_field = (
        "product_id"
        if etype in (EventType.PRODUCT_IMPRESSION, EventType.PRODUCT_UPDATE)
        else "productKey"
    )
    if product.key is None:
        raise missing(pick(item, KEY_NAMES)[0] or key_field)
    if etype in (EventType.STATUS_CART, EventType.PURCHASED_ITEMS):
        if product.price is None:
            raise missing(pick(item, PRICE_NAMES)[0] or "price")
        if product.quantity is None:
            raise missing(pick(item, QUANTITY_NAMES)[0] or "quantity")
    elif etype is EventType.PRODUCT_IMPRESSION and product.block is None:
        raise missing("container_type")
    elif etype is EventType.PRODUCT_UPDATE and product.in_stock is None:
        raise missing("isInStock")


def _find_section(payload: dict[str, Any], etype: EventType) -> tuple[str | None, Any]:
    key, value = pick(payload, SECTION_KEYS[etype])
    if key is not None:
        return key, value
    # A flat payload ({productKey: …} with no section) carries the fields itself.
    if any(k.lower() not in _ENVELOPE_KEYS for k in payload):
        return "", payload
    return None, None


def _merge_tags(body: NormalizedBody, value: Any, path: str) -> None:
    for name, values in normalize_tags(value, path).items():
        body.tags.setdefault(name, []).extend(values)


def _scalar(places: list[dict[str, Any]], names: tuple[str, ...]) -> tuple[str | None, Any]:
    for place in places:
        key, value = pick(place, names)
        if key is not None:
            return key, value
    return None, None


def normalize_payload(etype: EventType, payload: Any) -> NormalizedBody:
    """Read the canonical fields of one event out of its (identity-free) payload."""
    body = NormalizedBody()
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise EventRejected(Reason.INVALID_BODY, "the event payload must be an object", "payload")
    section_key, section = _find_section(payload, etype)
    base = section_key or ""

    places: list[dict[str, Any]] = []  # where loose scalars (GUID, categoryKey…) may sit
    item_list: Any = None
    item_path = base or etype.value
    product_path = base  # where the product of a ProductPage / AddToWishlist sits
    if isinstance(section, dict):
        inner_key, inner = pick(section, ("Product", "Category"))
        if isinstance(inner, dict):
            places.append(inner)
            product_path = _path(base, inner_key or "")
            if "Tags" in inner:
                _merge_tags(body, inner["Tags"], _path(_path(base, inner_key or ""), "Tags"))
        places.append(section)
        list_key, item_list = pick(section, ("Products", "Items"))
        item_path = _path(base, list_key or "Products")
        if section is not payload and "Tags" in section:
            _merge_tags(body, section["Tags"], _path(base, "Tags"))
    elif isinstance(section, list):
        item_list = section
    elif section is not None:
        raise EventRejected(Reason.INVALID_BODY, f"{base} must be an object or a list", base)
    places.append(payload)
    if "Tags" in payload:
        _merge_tags(body, payload["Tags"], "Tags")

    general = payload.get("GeneralInfo")
    if isinstance(general, dict):
        body.location = parse_key(
            pick(general, ("s_location",))[1], "GeneralInfo.s_location", required=False
        )
    if body.location is None:
        body.location = parse_key(_scalar(places, ("s_location",))[1], "s_location", required=False)

    _read_type_fields(etype, body, places, item_list, item_path, base, product_path)
    return body


def _read_type_fields(
    etype: EventType,
    body: NormalizedBody,
    places: list[dict[str, Any]],
    item_list: Any,
    item_path: str,
    base: str,
    product_path: str,
) -> None:
    if etype in (EventType.PRODUCT_PAGE, EventType.ADD_TO_WISHLIST):
        product_place = places[0] if len(places) > 1 else {}
        body.products = [read_product(product_place, product_path, etype)]
    elif etype in (
        EventType.STATUS_CART,
        EventType.PURCHASED_ITEMS,
        EventType.PRODUCT_IMPRESSION,
        EventType.PRODUCT_UPDATE,
    ):
        body.products = _read_items(etype, item_list, item_path, body.tags)
        guid_key, guid = _scalar(places, ("GUID", "cart_guid", "cartGuid"))
        body.cart_guid = parse_key(
            guid,
            _path(base, guid_key or "GUID"),
            required=etype is EventType.STATUS_CART,
            max_length=MAX_GUID_LENGTH,
        )
        if etype is EventType.PURCHASED_ITEMS:
            order_key, order = _scalar(places, ("OrderNumber", "order_number", "orderId"))
            body.order_number = parse_key(order, order_key or "OrderNumber", required=True)
            if not body.products:
                if body.cart_guid is None:
                    raise EventRejected(
                        Reason.MISSING_FIELD,
                        f"{item_path} is required: send the purchased items, or the GUID of "
                        "the last StatusCart so its items are taken",
                        item_path,
                    )
                body.items_missing = True
    elif etype is EventType.CATEGORY_PAGE:
        key_name, key = _scalar(places, ("categoryKey", "category_key", "categoryId"))
        body.category_key = parse_key(key, _path(base, key_name or "categoryKey"), required=True)
    elif etype is EventType.SEARCH_REQUEST:
        query_name, query = _scalar(places, ("search", "query", "searchQuery"))
        if query is None:
            field_path = _path(base, "search")
            raise EventRejected(Reason.MISSING_FIELD, f"{field_path} is required", field_path)
        if not isinstance(query, str | int | float) or isinstance(query, bool):
            field_path = _path(base, query_name or "search")
            raise EventRejected(
                Reason.INVALID_VALUE, f"{field_path}: expected a string", field_path
            )
        found_name, found = _scalar(places, ("isFound", "is_found", "found"))
        body.search = {
            "query": str(query),
            "found": parse_flag(found, _path(base, found_name or "isFound")),
        }


def _read_items(
    etype: EventType, item_list: Any, item_path: str, tags: dict[str, list[str]]
) -> list[Product]:
    if item_list is None:
        if etype in (EventType.STATUS_CART, EventType.PURCHASED_ITEMS):
            return []
        raise EventRejected(Reason.MISSING_FIELD, f"{item_path} is required", item_path)
    if not isinstance(item_list, list):
        raise EventRejected(
            Reason.INVALID_VALUE, f"{item_path}: expected a list of products", item_path
        )
    if not item_list and etype in (EventType.PRODUCT_IMPRESSION, EventType.PRODUCT_UPDATE):
        raise EventRejected(
            Reason.MISSING_FIELD, f"{item_path}: at least one product is needed", item_path
        )
    return [
        read_product(item, f"{item_path}[{i}]", etype, tags) for i, item in enumerate(item_list)
    ]
