"""A real app per test (SQLite and PostgreSQL), events through the collector, a moved clock.

The engine's clock starts at the real time (events carry the collector's receive time) and
tests move it forward instead of sleeping. Deliveries are small recorders of the
:class:`~shoptrack.triggers.model.Delivery` interface: the real SMTP and webhook deliveries
live in their own package files and are tested there.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shoptrack.config import Settings
from shoptrack.services import Services
from shoptrack.store.tables import trigger_candidates, trigger_messages
from shoptrack.triggers.engine import TriggerEngine
from shoptrack.triggers.model import Channel, Delivery, DeliveryResult, Outcome, OutgoingMessage
from shoptrack.web.app import create_app
from tests.support.payloads import browser_event, webevent_body

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
MINUTE_MS = 60_000


class Clock:
    def __init__(self) -> None:
        self.now = int(time.time() * 1000)

    def __call__(self) -> int:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += int(minutes * MINUTE_MS)


class Recorder:
    """A delivery that records what it was given and answers the outcomes it was told to."""

    def __init__(self, channel: Channel = Channel.EMAIL, outcomes: list[Outcome] | None = None):
        self.channel = channel
        self.outcomes = list(outcomes or [])
        self.sent: list[tuple[OutgoingMessage, int]] = []

    def send(self, message: OutgoingMessage, attempt: int) -> DeliveryResult:
        self.sent.append((message, attempt))
        outcome = self.outcomes.pop(0) if self.outcomes else Outcome.SENT
        return DeliveryResult(outcome, f"recorded {outcome.value}")


@dataclass
class Shop:
    client: TestClient
    services: Services
    site_id: str
    key: str
    clock: Clock
    email: Recorder = field(default_factory=Recorder)
    webhook: Recorder = field(default_factory=lambda: Recorder(Channel.WEBHOOK))

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def engine(self, **deliveries: Delivery) -> TriggerEngine:
        given = {Channel(k): v for k, v in deliveries.items()} or {
            Channel.EMAIL: self.email,
            Channel.WEBHOOK: self.webhook,
        }
        return TriggerEngine.build(
            self.services.settings,
            self.services.engine,
            self.services.keyring,
            given,
            clock=self.clock,
        )

    def configure(self, rule: str, **changes: Any) -> dict[str, Any]:
        response = self.client.patch(f"/api/v1/triggers/{rule}", json=changes, headers=self.headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def send(self, visitor: str, *events: dict[str, Any], agent: str = FIREFOX) -> None:
        body = webevent_body(self.site_id, *events, visitor_id=visitor, session_id=f"s-{visitor}")
        headers = {"User-Agent": agent, "Content-Type": "text/plain"}
        response = self.client.post("/webevent", content=orjson.dumps(body), headers=headers)
        assert response.status_code == 200, response.text
        assert response.json().get("accepted", len(events)) == len(events), response.text

    def identify(self, visitor: str, agent: str = FIREFOX, **fields: Any) -> None:
        self.send(visitor, browser_event("CustomerData", {"CustomerData": fields}), agent=agent)

    def cart(self, visitor: str, *keys: str, guid: str = "g1", agent: str = FIREFOX) -> None:
        lines = [{"productKey": k, "price": "10", "quantity": 1} for k in keys]
        payload = {"StatusCart": lines, "GUID": guid}
        self.send(visitor, browser_event("StatusCart", payload), agent=agent)

    def view(self, visitor: str, key: str, agent: str = FIREFOX) -> None:
        payload = {"ProductPage": {"productKey": key, "price": "10"}}
        self.send(visitor, browser_event("ProductPage", payload), agent=agent)

    def buy(self, visitor: str, *keys: str, guid: str | None = "g1", order: str = "o1") -> None:
        lines = [{"productKey": k, "price": "10", "quantity": 1} for k in keys]
        payload: dict[str, Any] = {"PurchasedItems": lines, "OrderNumber": order}
        if guid:
            payload["GUID"] = guid
        self.send(visitor, browser_event("PurchasedItems", payload))

    def search(self, visitor: str, query: str, found: int) -> None:
        payload = {"SearchRequest": {"search": query, "isFound": found}}
        self.send(visitor, browser_event("SearchRequest", payload))

    def drain(self) -> None:
        self.services.runner.drain()

    def messages(self) -> list[Any]:
        m = trigger_messages.c
        with self.services.engine.connect() as conn:
            stmt = select(trigger_messages).where(m.site_id == self.site_id)
            return list(conn.execute(stmt.order_by(m.decided_at, m.rule)).all())

    def candidates(self) -> list[Any]:
        c = trigger_candidates.c
        with self.services.engine.connect() as conn:
            stmt = select(trigger_candidates).where(c.site_id == self.site_id)
            return list(conn.execute(stmt.order_by(c.rule, c.visitor_id)).all())


def make_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(
        database_url=database_url,
        key_file=tmp_path / "shoptrack.keys",
        commit_interval_ms=1,
        run_processors=False,
        recs_refresh_interval_s=0,
        recs_history_poll_s=0,
        **overrides,
    )


@pytest.fixture
def shop(database_url: str, tmp_path: Path) -> Iterator[Shop]:
    with TestClient(create_app(make_settings(database_url, tmp_path))) as client:
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        created, key = services.site_repo.create("Trigger shop")
        yield Shop(client, services, created.site_id, key, Clock())
