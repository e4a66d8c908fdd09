"""Event type names: the canonical set and the spellings shops really send."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    PAGE_VIEW = "PageView"
    PRODUCT_PAGE = "ProductPage"
    STATUS_CART = "StatusCart"
    STATUS_CART_PAGE = "StatusCartPage"
    PURCHASED_ITEMS = "PurchasedItems"
    CUSTOMER_DATA = "CustomerData"
    CATEGORY_PAGE = "CategoryPage"
    ADD_TO_WISHLIST = "AddToWishlist"
    SEARCH_REQUEST = "SearchRequest"
    MAIN_PAGE = "MainPage"
    NOT_FOUND = "NotFound"
    PRODUCT_IMPRESSION = "ProductImpression"
    PRODUCT_UPDATE = "ProductUpdate"


# The spec itself spells the impression event both ways; names compare case-insensitively.
_BY_LOWER_NAME: dict[str, EventType] = {t.value.lower(): t for t in EventType}
_BY_LOWER_NAME["productimpressions"] = EventType.PRODUCT_IMPRESSION

# The key under which each type's section may sit in a payload, most common spelling first.
SECTION_KEYS: dict[EventType, tuple[str, ...]] = {t: (t.value,) for t in EventType}
SECTION_KEYS[EventType.PRODUCT_IMPRESSION] = ("ProductImpression", "ProductImpressions")

# Types a browser may never send: they change what every visitor sees.
SERVER_ONLY_TYPES = frozenset({EventType.PRODUCT_UPDATE})


def parse_event_type(name: object) -> EventType | None:
    """The canonical type for an event name as sent, or None when it is not one we know."""
    if not isinstance(name, str):
        return None
    return _BY_LOWER_NAME.get(name.strip().lower())
