"""The demo's trigger messages: two rules on, decided and sent by the real engine, some read.

Abandoned carts and abandoned browsing are turned on (webhook channel) before the processors
run, so the ``triggers`` processor opens their episodes; after training, rounds of the trigger
engine decide every due episode and send the messages. They go to :class:`DemoInbox`, a
webhook receiver inside the process (the demo reaches no network): it accepts most, asks for a
retry now and then and refuses a few, so the messages page shows every state. Then a share of
the recipients come back through their message's link (``sc_content=t_<rule>_<id>``) and some
buy, and the trigger report counts them.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
from sqlalchemy import Engine, select

from shoptrack.config import Settings
from shoptrack.demo.browsing import BROWSERS, DemoRequest
from shoptrack.demo.catalogue import CURRENCY, SHOP_URL
from shoptrack.identity.crypto import Keyring
from shoptrack.reports.ids import trigger_content
from shoptrack.store.db import WriteTurn
from shoptrack.store.tables import contact_visitors, trigger_messages
from shoptrack.triggers.engine import TriggerEngine
from shoptrack.triggers.model import (
    Channel,
    DeliveryResult,
    MessageStatus,
    Outcome,
    OutgoingMessage,
    Rule,
)
from shoptrack.triggers.rules import update_rule

DEMO_WEBHOOK_URL = "https://hooks.shop.example/shoptrack"
_RULES = {Rule.ABANDONED_CART: "1h", Rule.ABANDONED_BROWSE: "2h"}
_MAX_ROUNDS = 200


class DemoInbox:
    """The shop's webhook receiver, played in-process: 90 % taken, 7 % "try again", 3 % refused."""

    channel = Channel.WEBHOOK

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def send(self, message: OutgoingMessage, attempt: int) -> DeliveryResult:
        roll = self.rng.random()
        if roll < 0.9:
            return DeliveryResult(Outcome.SENT, "202 from the demo inbox")
        if roll < 0.97:
            return DeliveryResult(Outcome.RETRY, "503 from the demo inbox: busy, try again")
        return DeliveryResult(Outcome.FAILED, "410 from the demo inbox: the hook is gone")


def turn_rules_on(engine: Engine, site_id: str) -> None:
    with WriteTurn(engine)(), engine.begin() as conn:
        for rule, delay in _RULES.items():
            changes = {"enabled": True, "channel": "webhook", "webhook_url": DEMO_WEBHOOK_URL}
            update_rule(conn, site_id, rule, {**changes, "delay_seconds": delay})


def decide_and_send(
    settings: Settings, engine: Engine, keyring: Keyring, rng: random.Random
) -> None:
    """Rounds of the engine until nothing is left to decide or to send now."""
    triggers = TriggerEngine.build(settings, engine, keyring, {Channel.WEBHOOK: DemoInbox(rng)})
    for _ in range(_MAX_ROUNDS):
        decided, sent = triggers.tick()
        if not decided.due and not (sent.sent or sent.retried or sent.failed):
            return


def returning_recipients(
    engine: Engine, site_id: str, rng: random.Random, now: int
) -> list[DemoRequest]:
    """A quarter of the sent messages' recipients open their link; a third of those buy."""
    m, cv = trigger_messages.c, contact_visitors.c
    with engine.connect() as conn:
        sent = conn.execute(
            select(m.message_id, m.rule, m.contact_id, m.content)
            .where(m.site_id == site_id, m.status == MessageStatus.SENT)
            .order_by(m.message_id)
        ).all()
        visitors = dict(
            conn.execute(select(cv.contact_id, cv.visitor_id).where(cv.site_id == site_id)).all()
        )
    requests: list[DemoRequest] = []
    for number, message in enumerate(sent):
        visitor = visitors.get(message.contact_id)
        products = orjson.loads(message.content or "{}").get("products") or []
        if visitor is None or not products or rng.random() > 0.25:
            continue
        key = str(products[0].get("product_id"))
        content = trigger_content(message.rule, message.message_id)
        at = now + number * 10
        price = products[0].get("price_then") or products[0].get("price") or 1
        page = {"productKey": key, "price": str(price)}
        events: list[dict[str, Any]] = [
            {"name": "PageView"},
            {"name": "ProductPage", "payload": {"ProductPage": page}},
        ]
        if rng.random() < 0.35:
            line = {"productKey": key, "price": str(price), "quantity": "1",
                    "currency": CURRENCY}  # fmt: skip
            events.append({"name": "PurchasedItems",
                           "payload": {"OrderNumber": f"T{number:05d}", "PurchasedItems": [line],
                                       "GUID": f"trigger-{message.message_id}"}})  # fmt: skip
        for offset, event in enumerate(events):
            event.update(id=f"t{message.message_id}{offset}", style="sendEvent", time=at + offset)
        body = {
            "v": 1, "site_id": site_id, "visitor_id": visitor, "session_id": f"t{number}",
            "sent_at": at + len(events),
            "page": {"url": f"{SHOP_URL}/product/{key}?sc_content={content}", "title": "Demo shop"},
            "events": events,
        }  # fmt: skip
        agent = BROWSERS[number % len(BROWSERS)]
        requests.append(DemoRequest(at + len(events), agent, "203.0.113.9", body, len(events)))
    return requests
