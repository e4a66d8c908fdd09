"""An abandoned cart from a real browser to a parsed e-mail, with nothing of ours mocked.

Headless Chromium runs the tracker on a shop's page (its own origin); the events go through
the collector over HTTP; the trigger engine decides with a clock the test moves (no sleeping
for the hour's delay) and sends with the real SMTP delivery to a local aiosmtpd server; the
test reads the e-mail as a mail client would, follows its product link back into the shop
(the next event carries the message's ``sc_content``) and its unsubscribe link (the next cart
is then ``suppressed``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
from pydantic import SecretStr

from shoptrack.recommend.training import train_site
from shoptrack.reports.ids import trigger_content
from shoptrack.triggers.email import EmailDelivery
from shoptrack.triggers.engine import TriggerEngine
from shoptrack.triggers.model import Channel
from shoptrack.triggers.unsubscribe import is_unsubscribed
from tests.support.browser import DESKTOP_CHROME, launch_chromium
from tests.support.payloads import browser_event, webevent_body
from tests.support.server import free_port
from tests.tracker.helpers import ShopServer, StoredEvents, shop_page
from tests.triggers.conftest import FIREFOX, Clock
from tests.triggers.live import LiveApp, live_app, live_settings
from tests.triggers.smtp_server import Collector, smtp_server
from tests.triggers.test_email import Links

pytestmark = pytest.mark.browser

EMAIL = "ann.cart@example.com"
FROM = "shop@mail.example"
# The catalogue: (key, name, price now). The cart holds the first two; the others are what
# other shoppers bought with them, so the recommendations have something to offer.
PRODUCTS = [
    ("24-MB01", "Joust Duffle Bag", "34.00"),
    ("24-MB04", "Strive Shoulder Pack", "29.00"),
    ("24-UG06", "Affirm Water Bottle", "7.00"),
    ("24-UG04", "Zing Jump Rope", "12.00"),
    ("24-WG02", "Didi Sport Watch", "92.00"),
    ("24-UB02", "Impulse Duffle", "74.00"),
]
CART = [("24-MB01", "39.00"), ("24-MB04", "29.00")]  # the bag was dearer in the cart


@pytest.fixture(scope="module")
def chromium(playwright_driver: Any) -> Iterator[Any]:
    launched = launch_chromium(playwright_driver)
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def storefront() -> Iterator[ShopServer]:
    server = ShopServer()
    yield server
    server.close()


class Scene:
    """The app, its site, the SMTP server and the shop's origin."""

    def __init__(self, app: LiveApp, mailbox: Collector, storefront: ShopServer) -> None:
        self.app = app
        self.mailbox = mailbox
        self.storefront = storefront
        services = app.services
        site, self.key = services.site_repo.create("Luma Shop")
        self.site_id = site.site_id
        self.headers = {"Authorization": f"Bearer {self.key}"}
        self.api = httpx.Client(base_url=app.url, headers=self.headers, timeout=10)
        self.stored = StoredEvents(app.url, self.key)
        self.clock = Clock()
        self.engine = TriggerEngine.build(
            app.settings,
            services.engine,
            services.keyring,
            {Channel.EMAIL: EmailDelivery(app.settings)},
            clock=self.clock,
        )

    def close(self) -> None:
        self.api.close()

    def drain(self) -> None:
        self.app.services.runner.drain()

    def catalogue(self) -> None:
        """The products as the shop's server sends them (``ProductUpdate`` on ``/api/v2``)."""
        update = [
            {
                "product_id": key,
                "name": name,
                "url": f"{self.storefront.url}/product/{key}",
                "imgurl": f"{self.storefront.url}/img/{key}.jpg",
                "unit_price": price,
                "price_currency_code": "EUR",
                "isInStock": 1,
            }
            for key, name, price in PRODUCTS
        ]
        body = {
            "GeneralInfo": {"eventName": "ProductUpdate", "datetime": int(time.time() * 1000)},
            "ProductUpdate": update,
        }
        self.api.post("/api/v2", content=orjson.dumps(body)).raise_for_status()

    def other_shoppers(self) -> None:
        """Orders that put the cart's products with the others, then a trained model."""
        baskets = [["24-MB01", "24-UG06"], ["24-MB04", "24-UG04"], ["24-MB01", "24-WG02"]] * 3
        price = {key: price for key, _, price in PRODUCTS}  # pages show the catalogue's
        for i, basket in enumerate(baskets):
            views = [
                browser_event("ProductPage", {"ProductPage": {"productKey": k, "price": price[k]}})
                for k in basket
            ]
            lines = [{"productKey": k, "price": price[k], "quantity": 1} for k in basket]
            order = {"PurchasedItems": lines, "OrderNumber": f"o-{i}"}
            body = webevent_body(
                self.site_id,
                *views,
                browser_event("PurchasedItems", order),
                visitor_id=f"other-{i}",
                session_id=f"other-{i}",
            )
            answer = httpx.post(
                f"{self.app.url}/webevent",
                content=orjson.dumps(body),
                headers={"User-Agent": FIREFOX, "Content-Type": "text/plain"},
            )
            answer.raise_for_status()

    def page(self, path: str, calls: str) -> str:
        html = shop_page(self.app.url, self.site_id, calls, init={"TRACKING": False})
        return self.storefront.add(path, html)

    def messages(self, **params: str) -> list[dict[str, Any]]:
        answer = self.api.get("/api/v1/messages", params=params)
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()["messages"]
        return found


def cart_call(guid: str, lines: list[tuple[str, str]]) -> str:
    items = [{"productKey": k, "price": p, "quantity": "1", "currency": "EUR"} for k, p in lines]
    payload = {"StatusCart": items, "GUID": guid}
    return f"eS('sendEvent', 'StatusCart', {orjson.dumps(payload).decode()});"


def loaded(page: Any) -> None:
    page.wait_for_function("window.eS && window.eS.shoptrack === true")


@pytest.fixture
def scene(database_url: str, tmp_path: Path, storefront: ShopServer) -> Iterator[Scene]:
    port = free_port()
    with smtp_server() as (smtp_port, mailbox):
        settings = live_settings(
            database_url=database_url,
            key_file=tmp_path / "shoptrack.keys",
            port=port,
            public_url=f"http://127.0.0.1:{port}",
            smtp_url=SecretStr(f"smtp://127.0.0.1:{smtp_port}"),
            mail_from=FROM,
        )
        with live_app(settings) as app:
            built = Scene(app, mailbox, storefront)
            yield built
            built.close()


@pytest.fixture
def shopper(chromium: Any) -> Iterator[Any]:
    """The shopper's tab: a desktop Chrome to the server (headless Chromium reads as a bot,
    and bots never start a trigger); the tracker must throw nothing into the shop's page."""
    context = chromium.new_context(user_agent=DESKTOP_CHROME)
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))
    yield context.new_page()
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def parts(mail: EmailMessage) -> tuple[str, str]:
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


def test_a_cart_left_in_the_browser_comes_back_by_email_and_unsubscribes(
    scene: Scene, shopper: Any
) -> None:
    page = shopper
    scene.catalogue()
    scene.other_shoppers()
    scene.stored.wait(count=27)  # 9 orders of two views and a purchase
    scene.drain()
    assert train_site(scene.app.services.engine, scene.site_id).items >= 4
    answer = scene.api.patch("/api/v1/triggers/abandoned_cart", json={"enabled": True})
    assert answer.status_code == 200 and answer.json()["rule"]["delay_seconds"] == 3600

    # The visitor signs in, puts the bag in the cart, then the pack, and leaves.
    page.goto(
        scene.page(
            "/account",
            "eS('sendEvent', 'CustomerData', {CustomerData: {user_email: '" + EMAIL + "'}});",
        )
    )
    loaded(page)
    page.goto(scene.page("/cart-1", cart_call("guid-1", CART[:1])))
    loaded(page)
    page.goto(scene.page("/cart-2", cart_call("guid-2", CART)))
    loaded(page)
    events = scene.stored.wait(lambda es: sum(e["type"] == "StatusCart" for e in es) == 2)
    page.goto("about:blank")
    mine = [e for e in events if e["type"] in ("CustomerData", "StatusCart")]
    assert len(mine) == 3 and len({e["visitor_id"] for e in mine}) == 1
    scene.drain()

    # An hour later (by the engine's clock), one e-mail.
    scene.engine.tick()
    assert scene.mailbox.received == []
    scene.clock.advance(59)
    scene.engine.tick()
    assert scene.mailbox.received == []
    scene.clock.advance(2)
    scene.engine.tick()
    scene.engine.tick()
    [received] = scene.mailbox.received
    assert received.recipients == [EMAIL] and received.sender == FROM
    [message] = scene.messages()
    assert [message[k] for k in ("rule", "status", "attempts")] == ["abandoned_cart", "sent", 1]
    content = trigger_content("abandoned_cart", message["message_id"])

    mail = received.message()
    assert "cart" in mail["Subject"]
    assert mail["From"].addresses[0].display_name == "Luma Shop"
    unsubscribe = mail["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith(f"{scene.app.url}/unsubscribe/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    text, html = parts(mail)
    links = Links()
    links.feed(html)
    by_path = {urlsplit(h).path: h for h in links.hrefs if h.startswith(scene.storefront.url)}
    # The cart's products: name, price now and at cart time, link, image with alt text.
    for part in (text, html):
        assert "Joust Duffle Bag" in part and "Strive Shoulder Pack" in part
        assert "34.00 EUR" in part and "39.00 EUR" in part
    assert {"/product/24-MB01", "/product/24-MB04"} <= set(by_path)
    assert any(img.get("alt") == "Joust Duffle Bag" for img in links.images)
    # Recommendations: products other shoppers bought with these, linked the same way.
    recommended = set(by_path) - {"/product/24-MB01", "/product/24-MB04"}
    assert recommended and recommended <= {f"/product/{k}" for k, _, _ in PRODUCTS[2:]}
    for href in by_path.values():
        query = parse_qs(urlsplit(href).query)
        assert query["sc_content"] == [content]
        assert query["utm_source"] == ["shoptrack"] and query["utm_medium"] == ["email"]
        assert query["utm_campaign"] == ["abandoned_cart"]
        assert href in text
    assert unsubscribe in links.hrefs and unsubscribe in text

    # The shopper clicks the bag's link: the product page's events carry the message.
    product_url = by_path["/product/24-MB01"]
    scene.page(
        "/product/24-MB01",
        "eS('sendEvent', 'ProductPage', {ProductPage: {productKey: '24-MB01', price: '34'}});",
    )
    page.goto(product_url)
    loaded(page)
    clicked = scene.stored.wait(lambda es: es[-1]["type"] == "ProductPage")[-1]
    assert clicked["location"] == content

    # The footer link: a page that asks (following it unsubscribes nobody), then the button.
    contact_id = message["contact_id"]
    services = scene.app.services
    page.goto(unsubscribe)
    assert page.locator("form button").is_visible()
    assert not is_unsubscribed(services.engine, scene.site_id, contact_id, Channel.EMAIL)
    page.click("form button")
    page.wait_for_selector("text=You are unsubscribed")
    assert is_unsubscribed(services.engine, scene.site_id, contact_id, Channel.EMAIL)

    # The same shopper fills a new cart later: decided, and suppressed.
    page.goto(scene.page("/cart-3", cart_call("guid-3", [("24-UG04", "12.00")])))
    scene.stored.wait(lambda es: sum(e["type"] == "StatusCart" for e in es) == 3)
    scene.drain()
    scene.clock.advance(61)
    scene.engine.tick()
    later = scene.messages(status="suppressed")
    assert [(m["contact_id"], m["reason"]) for m in later] == [(contact_id, "unsubscribed")]
    assert len(scene.mailbox.received) == 1
