"""Block reports from the event log: impressions, clicks, carts and attributed purchases.

Events go in through the real collector (``POST /api/v2`` with explicit times), the reports
processor follows the log, and the numbers come out of ``GET /api/v1/reports/blocks``, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from shoptrack.processing.rebuild import rebuild
from shoptrack.reports.ids import BlockRef, parse_container
from shoptrack.store.sites_repo import SiteRepository
from tests.support.apps import DATABASES, module_app

DAY = 86_400_000
T0 = int(datetime(2026, 11, 2, 10, 0, tzinfo=UTC).timestamp() * 1000)  # a Monday, 10:00 UTC
BLOCK = "1253_r963v1317"  # placement 1253, block 963, variant 1317
OTHER = "1253_r963v1318"  # the same block's other variant
SHOP = "https://shop.example"


@pytest.fixture(scope="module", params=DATABASES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """One app per database for the module; each test has its own site. The processors run
    only when a test drains them, so every report reads a settled log."""
    with module_app(request, tmp_path_factory, "reports", run_processors=False) as client:
        yield client


class Shop:
    """A site of the module's server, sending dated server-side events."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        repo: SiteRepository = client.app.state.services.site_repo  # type: ignore[attr-defined]
        site, self.key = repo.create("Report shop")
        self.site_id = site.site_id
        self.headers = {"Authorization": f"Bearer {self.key}"}
        self.sent = 0

    def send(
        self,
        name: str,
        section: dict[str, Any] | None,
        at: int,
        visitor: str = "v1",
        session: str = "s1",
        url: str | None = None,
        location: str | None = None,
    ) -> None:
        self.sent += 1
        general: dict[str, Any] = {
            "eventName": name,
            "datetime": at,
            "cookies": {"sc": visitor},
            "sessionId": session,
            "eventId": f"e{self.sent}",
        }
        if url:
            general["pageUrl"] = url
        if location:
            general["s_location"] = location
        body = {"GeneralInfo": general, **(section or {})}
        response = self.client.post("/api/v2", content=orjson.dumps(body), headers=self.headers)
        assert response.status_code == 200, response.text

    # The events of the spec, in the shapes it shows.
    def impression(self, at: int, container: str = BLOCK, products: int = 3, **kw: Any) -> None:
        items = [{"product_id": f"p{i}", "container_type": container} for i in range(products)]
        self.send("ProductImpression", {"ProductImpression": items}, at, **kw)

    def land(self, product: str, at: int, container: str = BLOCK, **kw: Any) -> None:
        """A click in the block: the product page its link leads to (PageView + ProductPage)."""
        url = f"{SHOP}/p/{product}?sc_content={container}"
        self.send("PageView", None, at, url=url, **kw)
        page = {"ProductPage": {"productKey": product, "price": "10"}}
        self.send("ProductPage", page, at + 1000, url=url, **kw)

    def cart(self, products: list[str], at: int, **kw: Any) -> None:
        items = [{"productKey": p, "price": 10, "quantity": 1} for p in products]
        cart = {"GUID": f"cart-{kw.get('visitor', 'v1')}", "Products": items}
        self.send("StatusCart", {"StatusCart": cart}, at, **kw)

    def purchase(
        self,
        lines: list[tuple[str, float, int]],
        at: int,
        tags: dict[str, Any] | None = None,
        **kw: Any,
    ) -> None:
        section: dict[str, Any] = {
            "Products": [{"productKey": k, "price": p, "quantity": q} for k, p, q in lines],
            "OrderNumber": f"order-{self.sent}",
        }
        if tags:
            section["Tags"] = tags
        self.send("PurchasedItems", {"PurchasedItems": section}, at, **kw)

    def drain(self) -> None:
        self.client.app.state.services.runner.drain()  # type: ignore[attr-defined]

    def report(self, **params: str) -> dict[str, Any]:
        self.drain()
        query = {"from": "2026-10-01", "to": "2026-12-31", **params}
        response = self.client.get("/api/v1/reports/blocks", params=query, headers=self.headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def totals(self) -> dict[str, dict[str, Any]]:
        return {t["variant"]: t for t in self.report()["totals"]}


@pytest.fixture
def shop(server: TestClient) -> Shop:
    return Shop(server)


def test_container_ids() -> None:
    assert parse_container("1253_r963v1317") == BlockRef("963", "1317")
    assert parse_container("r24v435") == BlockRef("24", "435")
    assert parse_container(" 19534_r24v435 ") == BlockRef("24", "435")
    assert parse_container("1_r007v01") == BlockRef("7", "1")
    for bad in (None, 12, "", "1253", "1253_r963", "x_rAvB", "1_r1v2_extra"):
        assert parse_container(bad) is None


def test_an_order_its_tags_name_is_assisted_not_credited(shop: Shop) -> None:
    """``Tags.blockId`` is the session's ``sc_content`` (the spec): the block was on the way,
    but none of the order's products came from it."""
    shop.impression(T0)
    shop.purchase([("a", 153.0, 1), ("b", 20.5, 2)], T0 + DAY, tags={"blockId": ["19787_r119v224"]})
    # The snake_case spelling, in another shop visit by another visitor.
    shop.purchase([("c", 5.0, 1)], T0 + DAY, tags={"block_id": ["1_r119v224"]}, visitor="v2")
    totals = shop.totals()
    tagged = totals["r119v224"]
    assert tagged["block_id"] == 119 and tagged["variant_id"] == "r119v224"
    assert (tagged["purchases"], tagged["items"], tagged["revenue"]) == (0, 0, 0)
    assert tagged["aov"] is None
    assert tagged["assisted_purchases"] == 2
    assert tagged["assisted_revenue"] == pytest.approx(153 + 41 + 5)
    assert tagged["impressions"] == 0 and tagged["conversion"] is None  # no views: no rate
    # The block whose impression was sent has no purchase of its own.
    assert totals["r963v1317"]["purchases"] == 0
    assert totals["r963v1317"]["assisted_purchases"] == 0
    assert totals["r963v1317"]["impressions"] == 1


def test_only_the_products_from_the_block_are_credited_to_it(shop: Shop) -> None:
    """One order: a product clicked in the block, one added to the cart from it, and one the
    visitor found by browsing on. The tracker repeats the session's ``sc_content`` on every
    later page, cart and purchase; only the first two are the block's revenue."""
    shop.impression(T0)
    shop.land("p1", T0 + 1000)
    browsing = {"ProductPage": {"productKey": "x", "price": "100"}}
    shop.send("ProductPage", browsing, T0 + 2000, url=f"{SHOP}/p/x", location=BLOCK)
    shop.cart(["p1", "x"], T0 + 3000, location=BLOCK)
    # "Add to cart" inside the block: the cart line names it.
    line = {"productKey": "q", "price": 7, "quantity": 1, "container_type": BLOCK}
    cart = {"GUID": "cart-v1", "Products": [{"productKey": "p1", "price": 30, "quantity": 1}, line]}
    shop.send("StatusCart", {"StatusCart": cart}, T0 + 4000, location=BLOCK)
    order = [("p1", 30.0, 2), ("x", 100.0, 1), ("q", 7.0, 3)]
    shop.purchase(order, T0 + 5000, tags={"blockId": [BLOCK]}, location=BLOCK)
    totals = shop.totals()["r963v1317"]
    assert totals["clicks"] == 1
    assert totals["add_to_carts"] == 2  # p1 and q, not x
    assert totals["purchases"] == 1
    assert totals["items"] == 2 + 3
    assert totals["revenue"] == pytest.approx(60.0 + 21.0)
    assert totals["aov"] == pytest.approx(81.0)
    # The whole order, once, as the session-level figure.
    assert totals["assisted_purchases"] == 1
    assert totals["assisted_revenue"] == pytest.approx(181.0)
    # A later order of the same session, of products found by browsing, is only assisted.
    shop.purchase([("x", 100.0, 1)], T0 + 6000, location=BLOCK)
    totals = shop.totals()["r963v1317"]
    assert (totals["purchases"], totals["revenue"]) == (1, pytest.approx(81.0))
    assert (totals["assisted_purchases"], totals["assisted_revenue"]) == (2, pytest.approx(281))


def test_click_then_purchase_within_the_window(shop: Shop) -> None:
    for i in range(4):  # four views of the block, by four visitors
        shop.impression(T0 + i, visitor=f"viewer{i}")
    shop.impression(T0, visitor="v1")
    shop.land("p1", T0 + 60_000)
    shop.cart(["p1", "x"], T0 + 120_000)
    shop.cart(["p1", "x", "y"], T0 + 180_000)  # the same item again: one add-to-cart
    shop.purchase([("p1", 30.0, 2), ("x", 100.0, 1)], T0 + 3 * DAY, session="s9")
    report = shop.report()
    totals = {t["variant"]: t for t in report["totals"]}["r963v1317"]
    assert totals["impressions"] == 5
    assert totals["product_impressions"] == 15
    assert totals["clicks"] == 1  # PageView and ProductPage of one landing
    assert totals["add_to_carts"] == 1
    assert totals["purchases"] == 1
    assert totals["items"] == 2  # only the line of the clicked product
    assert totals["revenue"] == pytest.approx(60.0)
    assert totals["ctr"] == pytest.approx(1 / 5)
    assert totals["conversion"] == pytest.approx(1 / 5)
    assert totals["click_conversion"] == pytest.approx(1.0)
    assert totals["aov"] == pytest.approx(60.0)
    # Per day: the views and the click on the 2nd, the purchase on the 5th.
    days = [(d["day"], d["impressions"], d["clicks"], d["purchases"]) for d in report["days"]]
    assert days == [("2026-11-02", 5, 1, 0), ("2026-11-05", 0, 0, 1)]
    assert {"ctr", "conversion", "aov", "add_to_carts", "items", "revenue"} <= set(
        report["days"][0]
    )


def test_purchase_outside_the_window_or_by_another_visitor_does_not_count(shop: Shop) -> None:
    shop.land("p1", T0)
    shop.land("p2", T0, container=OTHER, visitor="v2", session="s2")
    shop.purchase([("p1", 10.0, 1)], T0 + 8 * DAY)  # 8 days later: the window is 7
    shop.purchase([("p2", 10.0, 1)], T0 + DAY, visitor="v3")  # never clicked by v3
    totals = shop.totals()
    assert totals["r963v1317"]["clicks"] == 1 and totals["r963v1317"]["purchases"] == 0
    assert totals["r963v1318"]["clicks"] == 1 and totals["r963v1318"]["purchases"] == 0
    # Just inside the window, it counts; and a click converts only once.
    shop.purchase([("p2", 10.0, 1)], T0 + 7 * DAY - 1, visitor="v2", session="s3")
    shop.purchase([("p2", 10.0, 1)], T0 + 7 * DAY - 1, visitor="v2", session="s3")
    assert shop.totals()["r963v1318"]["purchases"] == 1


def test_variants_of_a_block_are_reported_apart(shop: Shop) -> None:
    shop.impression(T0, container=BLOCK, visitor="a")
    shop.impression(T0, container=OTHER, visitor="b")
    shop.impression(T0, container=OTHER, visitor="c")
    shop.land("p1", T0 + 1000, container=OTHER, visitor="c", session="sc")
    shop.purchase([("p1", 12.0, 1)], T0 + 2000, visitor="c", session="sc")
    totals = shop.totals()
    assert (totals["r963v1317"]["impressions"], totals["r963v1317"]["clicks"]) == (1, 0)
    other = totals["r963v1318"]
    assert (other["impressions"], other["clicks"], other["purchases"]) == (2, 1, 1)
    assert other["ctr"] == 0.5 and totals["r963v1317"]["ctr"] == 0.0
    assert shop.report(block_id="963")["totals"] == shop.report()["totals"]
    assert shop.report(block_id="964")["totals"] == []
    assert all(isinstance(day["block_id"], int) for day in shop.report()["days"])


def test_the_remembered_sc_content_is_one_click_per_landing(shop: Shop) -> None:
    """The tracker repeats a session's sc_content on later events: not more clicks."""
    shop.land("p1", T0)
    shop.send(
        "ProductPage",
        {"ProductPage": {"productKey": "p7"}},
        T0 + 5000,
        url=f"{SHOP}/p/p7",
        location=BLOCK,
    )
    shop.cart(["p1"], T0 + 6000, location=BLOCK)
    assert shop.totals()["r963v1317"]["clicks"] == 1
    # Back to the block, another product: a second landing is a second click.
    shop.land("p2", T0 + 10_000)
    # A later session is a new click even on the same product.
    shop.land("p2", T0 + DAY, session="s2")
    assert shop.totals()["r963v1317"]["clicks"] == 3


def test_reports_are_rebuilt_by_replaying_the_log(shop: Shop) -> None:
    shop.impression(T0)
    shop.land("p1", T0 + 1000)
    shop.cart(["p1"], T0 + 2000)
    shop.purchase([("p1", 25.0, 1)], T0 + DAY, tags={"blockId": [BLOCK]})
    shop.land("p2", T0 + 2 * DAY, session="s2")
    shop.send(
        "ProductPage",
        {"ProductPage": {"productKey": "x"}},
        T0 + 2 * DAY + 5000,
        session="s2",
        url=f"{SHOP}/p/x",
        location=BLOCK,
    )
    shop.purchase([("p2", 10.0, 1), ("x", 5.0, 1)], T0 + 2 * DAY + 9000, session="s2")
    before = shop.report()
    credited = before["totals"][0]
    assert credited["purchases"] == 2  # tagged and clicked: credited once; p2 of the second
    assert credited["revenue"] == pytest.approx(35.0)
    assert (credited["assisted_purchases"], credited["assisted_revenue"]) == (2, 40.0)
    services = shop.client.app.state.services  # type: ignore[attr-defined]
    rebuild(services.engine, services.settings)
    assert shop.report() == before


def test_report_needs_an_api_key_and_valid_days(shop: Shop) -> None:
    client = shop.client
    assert client.get("/api/v1/reports/blocks").status_code == 401
    for params, field in (
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-11-05", "to": "2026-11-01"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2000-01-01", "to": "2026-01-01"}, "from"),
    ):
        response = client.get("/api/v1/reports/blocks", params=params, headers=shop.headers)
        assert response.status_code == 400, params
        assert response.json()["error"]["field"] == field
    empty = client.get("/api/v1/reports/blocks", headers=shop.headers).json()
    assert empty["days"] == [] and empty["totals"] == []
    # Another site's key sees nothing of this one.
    shop.impression(T0)
    other = Shop(client)
    assert other.report()["totals"] == []
    # A full ISO time is cut to its UTC day.
    params = {"from": "2026-11-02T23:00:00-02:00", "to": "2026-11-02"}
    response = client.get("/api/v1/reports/blocks", params=params, headers=shop.headers)
    assert response.status_code == 400  # 2026-11-03 UTC is after `to`
