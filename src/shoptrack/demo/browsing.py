"""Session scripts → the ``/webevent`` bodies the tracker would have sent for them.

Each page a visitor opens is one request (its events in one batch, as ``eS.js`` sends a tick's
events): a landing page (home with the home block's impressions, a category, a search, or the
product itself), product pages with the product block's impressions, the cart, the purchase.
A recommended product the visitor goes on to view is, with the variant's click rate, shown in
the block and opened from it (``sc_content`` in the page address), so the block reports count
impressions, clicks and the purchases they led to. Some visitors say who they are
(``CustomerData``, e-mails at example.com; a few on two devices); a few sessions are crawlers;
a few requests carry an event the collector refuses, for the rejected-events page.
"""

from __future__ import annotations

import random
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

from shoptrack.demo.catalogue import CURRENCY, SHOP_URL, DemoProduct
from shoptrack.demo.sessions import BUY, CART, VIEW, SessionScript, Step
from shoptrack.recommend.blocks import Block, choose_variant

BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
)
CRAWLER = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
_FIRST_NAMES = ("Ada", "Ben", "Chloe", "Dan", "Eva", "Finn", "Grace", "Hugo", "Iris", "Jon")


@dataclass(frozen=True, slots=True)
class PlacedBlock:
    """A live block of the demo, where it shows, and each variant's click rate."""

    block: Block
    page: str  # "main" or "product"
    click_rate: dict[int, float]  # by variant id


@dataclass(slots=True)
class DemoRequest:
    """One ``/webevent`` request: when it arrived, from which browser, with which body."""

    at_ms: int
    user_agent: str
    ip: str
    body: dict[str, Any]
    events: int


@dataclass(slots=True)
class _Visit:
    """The renderer's state for one session."""

    script: SessionScript
    agent: str
    ip: str
    session_id: str
    requests: list[DemoRequest] = field(default_factory=list)
    cart: list[DemoProduct] = field(default_factory=list)
    cart_guid: str = ""


class TrafficRenderer:
    def __init__(
        self,
        site_id: str,
        products: list[DemoProduct],
        blocks: list[PlacedBlock],
        rng: random.Random,
        *,
        reject_rate: float = 0.004,
    ) -> None:
        self.site_id = site_id
        self.products = products
        self.popular = products[:24]
        self.by_category: dict[str, list[DemoProduct]] = {}
        for product in products:
            self.by_category.setdefault(product.category, []).append(product)
        self.blocks = {placed.page: placed for placed in blocks}
        self.rng = rng
        self.reject_rate = reject_rate
        self.people: dict[str, int] = {}  # visitor → person number, once identified
        self.orders = 0

    def render(self, script: SessionScript) -> list[DemoRequest]:
        rng = self.rng
        crawler = rng.random() < 0.04
        visit = _Visit(
            script,
            CRAWLER if crawler else BROWSERS[zlib.crc32(script.visitor.encode()) % len(BROWSERS)],
            f"203.0.113.{rng.randrange(1, 255)}",
            uuid.uuid4().hex[:16],
        )
        first = script.steps[0]
        at = script.start_ms
        clicked_from: str | None = None
        if not crawler:
            landing = rng.random()
            if landing < 0.45:
                clicked_from = self._home(visit, at, first.product)
            elif landing < 0.75:
                self._page(visit, at, f"/category/{_slug(first.product.category)}", "CategoryPage",
                           {"CategoryPage": {"categoryKey": first.product.category}})  # fmt: skip
            elif landing < 0.8:
                word = first.product.title.rsplit(" ", 1)[-1].lower()
                self._page(visit, at, f"/search?q={word}", "SearchRequest",
                           {"SearchRequest": {"search": word, "isFound": 1}})  # fmt: skip
            if self._identifies(script.visitor, 0.08):
                self._customer(visit, at + 2_000)
        for index, step in enumerate(script.steps):
            at = script.start_ms + step.offset_ms + 1_500
            if step.action == CART:
                self._add_to_cart(visit, at, step.product)
            elif step.action == BUY:
                self._buy(visit, at, step.product)
            else:
                following = script.steps[index + 1] if index + 1 < len(script.steps) else None
                opened_from = clicked_from
                clicked_from = self._product(visit, at, step.product, clicked_from, following,
                                             crawler)  # fmt: skip
                if opened_from and rng.random() < 0.12:
                    # A recommendation that was what the visitor wanted goes to the cart.
                    self._add_to_cart(visit, at + 20_000, step.product)
        if visit.cart and not crawler and rng.random() < 0.3:
            self._buy(visit, at + 120_000, visit.cart[-1])
        return visit.requests

    def _identifies(self, visitor: str, chance: float) -> bool:
        return visitor in self.people or self.rng.random() < chance

    def _send(
        self, visit: _Visit, at: int, path: str, events: list[dict[str, Any]], *, load: bool = True
    ) -> None:
        """One request; ``load``: a page load, which the tracker opens with a ``PageView``."""
        if load:
            events = [{"name": "PageView"}, *events]
        if self.rng.random() < self.reject_rate:
            events = [*events, self._refused()]
        for number, event in enumerate(events):
            event.setdefault("id", uuid.uuid4().hex)
            event.setdefault("style", "sendEvent")
            event["time"] = at + number
        body = {
            "v": 1,
            "site_id": self.site_id,
            "visitor_id": visit.script.visitor,
            "session_id": visit.session_id,
            "sent_at": at + len(events),
            "page": {"url": SHOP_URL + path, "referrer": None, "title": "Demo shop"},
            "events": events,
        }
        visit.requests.append(DemoRequest(at + len(events), visit.agent, visit.ip, body,
                                          len(events)))  # fmt: skip

    def _page(
        self, visit: _Visit, at: int, path: str, name: str, payload: Any, *, load: bool = True
    ) -> None:
        self._send(visit, at, path, [{"name": name, "payload": payload}], load=load)

    def _refused(self) -> dict[str, Any]:
        """One of the mistakes a shop's developer makes while wiring the snippet."""
        kind = self.rng.randrange(3)
        if kind == 0:
            return {"name": "ProductView", "payload": {"ProductView": {"productKey": "SKU-1"}}}
        if kind == 1:
            return {"name": "CustomerData", "payload": {"CustomerData": {"user_name": "Sam"}}}
        return {"id": "id with spaces", "name": "MainPage"}

    def _block(
        self, visit: _Visit, page: str, target: DemoProduct | None, pool: list[DemoProduct]
    ) -> tuple[dict[str, Any] | None, str | None]:
        """The page's block: its impressions event, and its ``sc_content`` when clicked.

        Four products of ``pool`` are shown; with the variant's click rate the visitor's next
        product (``target``) is among them and opened from the block.
        """
        placed = self.blocks.get(page)
        if placed is None or not pool:
            return None, None
        variant = choose_variant(placed.block, visit.script.visitor)
        container = placed.block.container_type(variant)
        shown = self.rng.sample(pool, min(4, len(pool)))
        clicked = target is not None and self.rng.random() < placed.click_rate[variant.variant_id]
        if clicked and target is not None and target not in shown:
            shown[self.rng.randrange(len(shown))] = target
        impressions = [{"product_id": p.key, "container_type": container} for p in shown]
        event = {"name": "ProductImpressions", "payload": {"ProductImpression": impressions}}
        return event, container if clicked else None

    def _home(self, visit: _Visit, at: int, next_product: DemoProduct) -> str | None:
        impressions, clicked = self._block(visit, "main", next_product, self.popular)
        events: list[dict[str, Any]] = [{"name": "MainPage"}]
        self._send(visit, at, "/", events + ([impressions] if impressions else []))
        return clicked

    def _product(
        self, visit: _Visit, at: int, product: DemoProduct, opened_from: str | None,
        following: Step | None, crawler: bool,
    ) -> str | None:  # fmt: skip
        """The product page (opened from a block when ``opened_from``) and its block."""
        path = f"/product/{product.key}"
        if opened_from:
            path += f"?sc_content={opened_from}"
        stock = 1 if product.in_stock else 0
        page = {"productKey": product.key, "price": f"{product.selling_price:.2f}",
                "isInStock": stock}  # fmt: skip
        events: list[dict[str, Any]] = [{"name": "ProductPage", "payload": {"ProductPage": page}}]
        clicked = None
        if not crawler:
            target = following.product if following and following.action == VIEW else None
            shelf = [p for p in self.by_category[product.category] if p is not product]
            impressions, clicked = self._block(visit, "product", target, shelf or self.popular)
            if impressions:
                events.append(impressions)
        self._send(visit, at, path, events)
        return clicked

    def _add_to_cart(self, visit: _Visit, at: int, product: DemoProduct) -> None:
        if product not in visit.cart:
            visit.cart.append(product)
        visit.cart_guid = str(uuid.uuid4())
        payload = {"StatusCart": _lines(visit.cart), "GUID": visit.cart_guid}
        # Added on the product page: no new page load.
        self._page(visit, at, f"/product/{product.key}", "StatusCart", payload, load=False)

    def _buy(self, visit: _Visit, at: int, product: DemoProduct) -> None:
        if not visit.cart:
            self._add_to_cart(visit, at - 30_000, product)
        self.orders += 1
        if self._identifies(visit.script.visitor, 0.6):
            self._customer(visit, at - 5_000)
        payload = {
            "OrderNumber": f"D{100000 + self.orders}",
            "PurchasedItems": _lines(visit.cart),
            "GUID": visit.cart_guid,
        }
        self._page(visit, at, "/checkout/done", "PurchasedItems", payload)
        visit.cart = []

    def _customer(self, visit: _Visit, at: int) -> None:
        """``CustomerData`` for the visitor's person; one person in ten uses two devices."""
        visitor = visit.script.visitor
        person = self.people.get(visitor)
        if person is None:
            person = len(self.people) + 1
            if person > 10 and self.rng.random() < 0.1:
                person = self.rng.randrange(1, person)  # the same person on another device
            self.people[visitor] = person
        data: dict[str, Any] = {
            "user_email": f"shopper{person}@example.com",
            "user_name": f"{_FIRST_NAMES[person % len(_FIRST_NAMES)]} Example{person}",
        }
        if person % 3 == 0:
            data["user_phone"] = f"+44 7700 900{person % 1000:03d}"
        self._page(visit, at, "/account", "CustomerData", {"CustomerData": data})


def _lines(cart: list[DemoProduct]) -> list[dict[str, str]]:
    return [
        {"productKey": p.key, "price": f"{p.selling_price:.2f}", "quantity": "1",
         "currency": CURRENCY}
        for p in cart
    ]  # fmt: skip


def _slug(category: str) -> str:
    return category.lower().replace(" > ", "/").replace(" ", "-")
