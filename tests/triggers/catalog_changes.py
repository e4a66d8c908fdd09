"""Helpers for the rules a catalogue change starts: a shop whose feed is served over HTTP,
product views and wishlistings with price and stock, ``ProductUpdate`` through ``/api/v2``.

Catalogue changes go through the real paths: a feed import (``POST /api/v1/feeds/{id}/import``)
or a ``ProductUpdate`` posted with the site's API key, then the processors.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shoptrack.services import Services
from shoptrack.store.tables import trigger_watches
from shoptrack.web.app import create_app
from tests.catalog.feedfiles import product, rss
from tests.catalog.httpserver import FeedServer, Route, feed_server
from tests.support.payloads import browser_event
from tests.triggers.conftest import FIREFOX, Clock, Shop, make_settings


@dataclass
class CatalogShop(Shop):
    server: FeedServer | None = None
    feed_id: str | None = None

    def import_feed(self, **prices: tuple[str, str]) -> dict[str, Any]:
        """Import a feed of ``key=(price, availability)``: ``p1=("100.00 USD", "in stock")``."""
        assert self.server is not None
        items = [
            product(key, price=price, availability=availability)
            for key, (price, availability) in prices.items()
        ]
        self.server.routes["/feed.xml"] = Route(rss(*items))
        if self.feed_id is None:
            response = self.client.post(
                "/api/v1/feeds", json={"url": self.server.url("/feed.xml")}, headers=self.headers
            )
            assert response.status_code == 201, response.text
            self.feed_id = response.json()["id"]
        response = self.client.post(
            f"/api/v1/feeds/{self.feed_id}/import?wait=true", headers=self.headers
        )
        assert response.status_code == 200, response.text
        done: dict[str, Any] = response.json()["import"]
        assert done["status"] == "ok", done
        return done

    def update(self, key: str, price: str, in_stock: bool = True) -> None:
        """A ``ProductUpdate`` from the shop's server, with the API key, then the processors."""
        line = {"product_id": key, "unit_price": price, "isInStock": 1 if in_stock else 0}
        body = {
            "GeneralInfo": {
                "eventName": "ProductUpdate",
                "siteId": self.site_id,
                "datetime": int(time.time() * 1000),
                "cookies": {"sc": "shop-server"},
            },
            "ProductUpdate": [line],
        }
        response = self.client.post("/api/v2", json=body, headers=self.headers)
        assert response.status_code == 200, response.text
        self.drain()

    def view_product(
        self, visitor: str, key: str, price: str, in_stock: bool = True, agent: str = FIREFOX
    ) -> None:
        section = {"productKey": key, "price": price, "isInStock": 1 if in_stock else 0}
        self.send(visitor, browser_event("ProductPage", {"ProductPage": section}), agent=agent)

    def wishlist(self, visitor: str, key: str, price: str, in_stock: bool = True) -> None:
        section = {"productKey": key, "price": price, "isInStock": 1 if in_stock else 0}
        self.send(visitor, browser_event("AddToWishlist", {"AddToWishlist": section}))

    def contact_id(self, email: str) -> str:
        contacts = self.client.get("/api/v1/contacts", headers=self.headers).json()["contacts"]
        return str(next(c["id"] for c in contacts if c.get("email") == email))

    def watches(self) -> list[Any]:
        w = trigger_watches.c
        with self.services.engine.connect() as conn:
            stmt = select(trigger_watches).where(w.site_id == self.site_id)
            return list(conn.execute(stmt.order_by(w.rule, w.visitor_id, w.product_key)).all())


@pytest.fixture(name="catalog_shop")
def catalog_shop_fixture(database_url: str, tmp_path: Path) -> Iterator[CatalogShop]:
    settings = make_settings(
        database_url, tmp_path, feed_allow_private_hosts=True, feed_timeout_s=2
    )
    with feed_server() as server, TestClient(create_app(settings)) as client:
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        created, key = services.site_repo.create("Catalogue shop")
        yield CatalogShop(client, services, created.site_id, key, Clock(), server=server)
