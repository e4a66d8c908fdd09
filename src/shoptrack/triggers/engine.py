"""The due-queue loop of the worker: decide what is due, then hand due messages to channels."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine

from shoptrack.config import Settings
from shoptrack.identity.crypto import Keyring
from shoptrack.recommend.serving import RecommendationService
from shoptrack.store.sql import now_ms
from shoptrack.triggers.conditions import Recommender
from shoptrack.triggers.decide import Clock, DecideCounts, Decider
from shoptrack.triggers.model import Channel, Delivery
from shoptrack.triggers.send import LinkMaker, SendCounts, Sender, UnsubscribeLink

log = logging.getLogger(__name__)


def service_recommender(service: RecommendationService) -> Recommender:
    """Recommendations for a message: the contact's personal ones, with the message's
    products as context (cart complements for a cart)."""

    def recommend(site_id: str, contact_id: str, keys: list[str]) -> list[dict[str, object]]:
        found = service.for_contact(site_id, contact_id, products=keys, limit=6)
        return list(found["products"])

    return recommend


def configured_deliveries(settings: Settings) -> dict[Channel, Delivery]:
    """The deliveries this process has, by channel.

    None yet in the engine alone: the e-mail (SMTP) and webhook deliveries come with their own
    settings (``triggers/email.py``, ``webhook.py``) and are added here when configured.
    Until then a message for a channel with no delivery stays ``pending`` (logged once).
    """
    return {}


@dataclass
class TriggerEngine:
    decider: Decider
    sender: Sender
    interval_s: float = 5.0

    @classmethod
    def build(
        cls,
        settings: Settings,
        engine: Engine,
        keyring: Keyring,
        deliveries: Mapping[Channel, Delivery],
        *,
        clock: Clock = now_ms,
        link_maker: LinkMaker | None = None,
        unsubscribe_link: UnsubscribeLink | None = None,
        recommender: Recommender | None = None,
    ) -> TriggerEngine:
        if recommender is None:
            recommender = service_recommender(RecommendationService(engine, settings))
        decider = Decider(
            engine,
            keyring,
            daily_cap=settings.triggers_daily_cap,
            recommender=recommender,
            clock=clock,
        )
        sender = Sender(
            engine,
            keyring,
            deliveries,
            clock=clock,
            stale_after_ms=int(settings.triggers_stale_attempt_s * 1000),
            link_maker=link_maker,
            unsubscribe_link=unsubscribe_link,
        )
        return cls(decider, sender, settings.triggers_tick_interval_s)

    def tick(self) -> tuple[DecideCounts, SendCounts]:
        """Decide every due episode, then send every due message (one round)."""
        return self.decider.run_due(), self.sender.run_due()

    def run_forever(self, stop: threading.Event) -> None:
        """The worker's loop: a round every ``interval_s`` until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # a store error: the next round tries again
                log.error("triggers: round failed (%s: %s)", type(exc).__name__, exc)
            stop.wait(self.interval_s)
