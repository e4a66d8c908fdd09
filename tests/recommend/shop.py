"""A shop for the recommendation tests: a real app, a CSV feed, events through /webevent."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from httpx import Response

from shoptrack.catalog.feeds import FeedRepository
from shoptrack.catalog.importer import FeedImporter
from shoptrack.config import Settings
from shoptrack.recommend.training import TrainResult, train_site
from shoptrack.services import Services
from shoptrack.web.app import create_app
from tests.support.payloads import browser_event, webevent_body


def item(key: str, **fields: Any) -> dict[str, Any]:
    """A feed row; keyword arguments override (``None`` leaves a field out)."""
    row: dict[str, Any] = {
        "id": key,
        "title": f"Product {key}",
        "link": f"https://shop.example/p/{key}",
        "image_link": f"https://shop.example/img/{key}.jpg",
        "price": "10.00 USD",
        "availability": "in stock",
        "product_type": "Shoes > Sneakers",
    }
    row.update(fields)
    return {k: v for k, v in row.items() if v is not None}


class Shop:
    def __init__(self, client: TestClient, site_id: str, api_key: str, tmp_path: Path) -> None:
        self.client = client
        self.site_id = site_id
        self.api_key = api_key
        self.tmp_path = tmp_path
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        self.services = services
        self.engine = services.engine
        self.settings = services.settings

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    # --- catalogue -------------------------------------------------------------------------

    def catalog(self, *rows: dict[str, Any]) -> None:
        columns: list[str] = []
        for row in rows:
            columns.extend(c for c in row if c not in columns)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])
        path = self.tmp_path / f"feed-{uuid.uuid4().hex[:6]}.csv"
        path.write_text(buffer.getvalue())
        feeds = FeedRepository(self.engine)
        feed = feeds.add(self.site_id, str(path), None, allow_files=True)
        outcome = FeedImporter(self.engine, self.settings).run(feed)
        assert outcome.status == "ok", outcome

    # --- events ----------------------------------------------------------------------------

    def send(
        self,
        visitor: str,
        *events: dict[str, Any],
        session: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        body = webevent_body(
            self.site_id, *events, visitor_id=visitor, session_id=session or f"s-{visitor}"
        )
        headers = {"Content-Type": "text/plain"}
        if user_agent is not None:
            headers["User-Agent"] = user_agent
        response = self.client.post("/webevent", content=orjson.dumps(body), headers=headers)
        assert response.status_code == 200, response.text

    def views(
        self, visitor: str, *keys: str, session: str | None = None, user_agent: str | None = None
    ) -> None:
        events = [
            browser_event("ProductPage", {"ProductPage": {"productKey": k, "price": "10"}})
            for k in keys
        ]
        self.send(visitor, *events, session=session, user_agent=user_agent)

    def cart(self, visitor: str, *keys: str, session: str | None = None) -> None:
        products = [{"productKey": k, "price": "10", "quantity": 1} for k in keys]
        event = browser_event("StatusCart", {"StatusCart": products, "GUID": uuid.uuid4().hex})
        self.send(visitor, event, session=session)

    def purchase(self, visitor: str, *keys: str, session: str | None = None) -> None:
        products = [{"productKey": k, "price": "10", "quantity": 1} for k in keys]
        payload = {"PurchasedItems": products, "OrderNumber": uuid.uuid4().hex[:8]}
        self.send(visitor, browser_event("PurchasedItems", payload), session=session)

    def train(self, include_bots: bool = False) -> TrainResult:
        return train_site(self.engine, self.site_id, include_bots=include_bots)

    # --- blocks and serving ----------------------------------------------------------------

    def block(
        self, algorithm: str = "popular", params: dict[str, Any] | None = None, **fields: Any
    ) -> dict[str, Any]:
        body = {
            "page_type": "product",
            "status": "live",
            "variants": [{"algorithm": algorithm, "params": params or {}, "weight": 1}],
            **fields,
        }
        response = self.client.post("/api/v1/blocks", json=body, headers=self.auth)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def variant_of(self, block: dict[str, Any], n: int = 0) -> str:
        return str(block["variants"][n]["variant_id"])

    def get(self, variant: str, **params: Any) -> Response:
        query = {"variant": variant, **{k: str(v) for k, v in params.items()}}
        return self.client.get(f"/recs/{self.site_id}", params=query)

    def keys(self, variant: str, **params: Any) -> list[str]:
        response = self.get(variant, **params)
        assert response.status_code == 200, response.text
        return [p["product_id"] for p in response.json()["products"]]


@pytest.fixture
def shop(database_url: str, tmp_path: Path) -> Iterator[Shop]:
    settings = Settings(
        database_url=database_url,
        key_file=tmp_path / "shoptrack.keys",
        commit_interval_ms=1,
        run_processors=False,
        recs_refresh_interval_s=0,
        recs_history_poll_s=0,
    )
    with TestClient(create_app(settings)) as client:
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        created, key = services.site_repo.create("Recs shop")
        yield Shop(client, created.site_id, key, tmp_path)
