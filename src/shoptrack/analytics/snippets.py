"""What a shop pastes: the loader with its site and this server filled in, and one short call
per event type (the spec's calls, ``web-tracking-js-events.md``, with example values) for the
Overview's "never arrived" list."""

from __future__ import annotations

import json
from dataclasses import dataclass

from shoptrack.events.types import EventType


@dataclass(frozen=True, slots=True)
class Snippet:
    when: str  # where on the shop the call goes, and what it is for
    code: str


def loader(script_base: str, site_id: str) -> str:
    """The spec's loader: the script ``<script_base><site_id>.js`` and ``eS('init')``.

    Both values are written as JavaScript string literals (JSON), so no quote in them can end
    the string; the page escapes the whole text as HTML.
    """
    return f"""<script>
!function(t, e, c, n) {{
    var s = e.createElement(c);
    s.async = 1, s.src = {json.dumps(script_base)} + n + '.js';
    var r = e.scripts[0];
    r.parentNode.insertBefore(s, r);
    var f = function() {{ f.c(arguments); }};
    f.q = [];
    f.c = function() {{ f.q.push(arguments); }};
    t['eS'] = t['eS'] || f;
}}(window, document, 'script', {json.dumps(site_id)});

eS('init', {{TRACKING: false, RECOMS: true}});
</script>"""


SNIPPETS: dict[str, Snippet] = {
    EventType.PAGE_VIEW: Snippet(
        "Sent by the tracker on every page load; a single-page shop sends it on each view.",
        "eS('sendEvent', 'PageView', {PageView: {}});",
    ),
    EventType.PRODUCT_PAGE: Snippet(
        "On every product page: recommendations, abandoned-view triggers, the catalogue.",
        "eS('sendEvent', 'ProductPage', {ProductPage: {\n"
        "    productKey: 'SKU-123', price: '19.90', isInStock: 1\n}});",
    ),
    EventType.STATUS_CART: Snippet(
        "Whenever the cart changes: the whole cart, with a new GUID each time.",
        "eS('sendEvent', 'StatusCart', {\n"
        "    StatusCart: [{productKey: 'SKU-123', price: '19.90', quantity: '1'}],\n"
        "    GUID: 'a new id for this cart state'\n});",
    ),
    EventType.STATUS_CART_PAGE: Snippet(
        "On the cart or checkout page when the cart did not change (for its recommendations).",
        "eS('sendEvent', 'StatusCartPage');",
    ),
    EventType.PURCHASED_ITEMS: Snippet(
        "On the order confirmation page: the order's lines and number (orders and revenue).",
        "eS('sendEvent', 'PurchasedItems', {\n"
        "    OrderNumber: 'ORDER-1001',\n"
        "    PurchasedItems: [{productKey: 'SKU-123', price: '19.90', quantity: '1'}],\n"
        "    GUID: 'the GUID of the last StatusCart'\n});",
    ),
    EventType.CUSTOMER_DATA: Snippet(
        "After a sign-in, sign-up or newsletter form: ties the visitor to a contact.",
        "eS('sendEvent', 'CustomerData', {CustomerData: {\n"
        "    externalCustomerId: 'your customer id', user_email: 'the e-mail entered'\n}});",
    ),
    EventType.CATEGORY_PAGE: Snippet(
        "On every category page, with the category as the feed names it.",
        "eS('sendEvent', 'CategoryPage', {CategoryPage: {categoryKey: 'Backpacks'}});",
    ),
    EventType.ADD_TO_WISHLIST: Snippet(
        "When a product is added to the wish list (wish-list triggers).",
        "eS('sendEvent', 'AddToWishlist', {AddToWishlist: {\n"
        "    productKey: 'SKU-123', price: '19.90', isInStock: 1\n}});",
    ),
    EventType.SEARCH_REQUEST: Snippet(
        "On the search results page: what was searched and whether anything was found.",
        "eS('sendEvent', 'SearchRequest', {SearchRequest: {search: 'umbrella', isFound: 1}});",
    ),
    EventType.MAIN_PAGE: Snippet(
        "On the home page (its recommendation blocks).",
        "eS('sendEvent', 'MainPage');",
    ),
    EventType.NOT_FOUND: Snippet(
        "On the 404 page (its recommendation blocks).",
        "eS('sendEvent', 'NotFound');",
    ),
    EventType.PRODUCT_IMPRESSION: Snippet(
        "When a recommendation block you render yourself comes into view (block reports).",
        "eS('sendEvent', 'ProductImpressions', {ProductImpression: [\n"
        "    {product_id: 'SKU-123', container_type: 'the container_type of the block'}\n]});",
    ),
}
