"""Bot traffic in block reports: left out unless ``SHOPTRACK_INCLUDE_BOTS`` turns it back on.

A crawler that runs the tracker sends the same events as a visitor (impressions, a landing
from a block, a cart, even a purchase when it follows a checkout link); the collector flags its
user agent (``user_agent.is_bot``). Events go in through ``POST /webevent`` with the agent in
the request's header, as a browser sends them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from shoptrack.processing.rebuild import rebuild
from tests.reports.test_attribution import BLOCK, SHOP, Shop
from tests.support.apps import DATABASES, module_app
from tests.support.payloads import browser_event, webevent_body

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture(scope="module", params=DATABASES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    with module_app(request, tmp_path_factory, "bots", run_processors=False) as client:
        yield client


def visit(shop: Shop, visitor: str, agent: str) -> None:
    """Sees the block, lands on p1 from it, puts p1 in the cart and buys it."""

    def send(url: str, *events: dict[str, Any]) -> None:
        body = webevent_body(
            shop.site_id, *events, visitor_id=visitor, session_id=f"s-{visitor}", page={"url": url}
        )
        headers = {"User-Agent": agent, "Content-Type": "text/plain"}
        response = shop.client.post("/webevent", content=orjson.dumps(body), headers=headers)
        assert response.status_code == 200, response.text

    shown = [{"productKey": f"p{i}", "container_type": BLOCK} for i in range(3)]
    send(f"{SHOP}/", browser_event("ProductImpressions", {"ProductImpressions": shown}))
    landing = f"{SHOP}/p/p1?sc_content={BLOCK}"
    page = {"ProductPage": {"productKey": "p1", "price": "10"}}
    send(landing, browser_event("PageView"), browser_event("ProductPage", page))
    line = {"productKey": "p1", "price": "10", "quantity": 1}
    send(landing, browser_event("StatusCart", {"StatusCart": [line], "GUID": f"g-{visitor}"}))
    order = {"PurchasedItems": [line], "OrderNumber": f"o-{visitor}"}
    send(f"{SHOP}/thanks", browser_event("PurchasedItems", order))


def funnel(shop: Shop) -> tuple[int, ...]:
    today = datetime.now(tz=UTC).date()
    report = shop.report(
        **{
            "from": (today - timedelta(days=1)).isoformat(),
            "to": (today + timedelta(days=1)).isoformat(),
        }
    )
    totals = {t["variant"]: t for t in report["totals"]}.get("r963v1317")
    if totals is None:
        return (0, 0, 0, 0, 0)
    names = ("impressions", "clicks", "add_to_carts", "purchases", "assisted_purchases")
    return tuple(int(totals[name]) for name in names)


def test_a_bot_counts_nowhere_in_block_reports(server: TestClient) -> None:
    shop = Shop(server)
    visit(shop, "crawler", GOOGLEBOT)
    assert funnel(shop) == (0, 0, 0, 0, 0)
    visit(shop, "person", FIREFOX)
    assert funnel(shop) == (1, 1, 1, 1, 1)
    # A rebuild keeps them out too; with the setting turned on, the bot counts again.
    services = server.app.state.services  # type: ignore[attr-defined]
    rebuild(services.engine, services.settings)
    assert funnel(shop) == (1, 1, 1, 1, 1)
    rebuild(services.engine, services.settings.model_copy(update={"include_bots": True}))
    assert funnel(shop) == (2, 2, 2, 2, 2)
    rebuild(services.engine, services.settings)
    assert funnel(shop) == (1, 1, 1, 1, 1)
