"""The due-queue loop of the worker: wake the episodes catalogue changes start, decide what is
due, then hand due messages to channels."""

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
from shoptrack.triggers.email import EmailDelivery
from shoptrack.triggers.model import Channel, Delivery
from shoptrack.triggers.send import LinkMaker, SendCounts, Sender, UnsubscribeLink
from shoptrack.triggers.unsubscribe import make_unsubscribe_url
from shoptrack.triggers.watcher import CatalogWatcher
from shoptrack.triggers.webhook import WebhookDelivery
from shoptrack.triggers.webhook_secret import WebhookSecrets

log = logging.getLogger(__name__)


def service_recommender(service: RecommendationService) -> Recommender:
    """Recommendations for a message: the contact's personal ones, with the message's
    products as context (cart complements for a cart)."""

    def recommend(site_id: str, contact_id: str, keys: list[str]) -> list[dict[str, object]]:
        found = service.for_contact(site_id, contact_id, products=keys, limit=6)
        return list(found["products"])

    return recommend


def configured_deliveries(
    settings: Settings, engine: Engine, keyring: Keyring
) -> dict[Channel, Delivery]:
    """The deliveries this process has, by channel.

    Webhooks always (each rule names its URL); e-mail once ``SHOPTRACK_SMTP_URL`` and
    ``SHOPTRACK_MAIL_FROM`` are set. A message for a channel with no delivery stays
    ``pending`` (logged once), so setting up the mail server later sends what waited.
    """
    deliveries: dict[Channel, Delivery] = {
        Channel.WEBHOOK: WebhookDelivery(settings, WebhookSecrets(engine, keyring))
    }
    if settings.smtp_url is not None and settings.mail_from:
        deliveries[Channel.EMAIL] = EmailDelivery(settings)
    return deliveries


def unsubscribe_links(settings: Settings, keyring: Keyring) -> UnsubscribeLink:
    """Each message's unsubscribe link, on ``SHOPTRACK_PUBLIC_URL`` (else the bind address,
    which only a shopper on this machine could reach: set the public URL in production)."""
    base = settings.public_url or f"http://{settings.host}:{settings.port}"

    def link(site_id: str, contact_id: str, channel: Channel) -> str:
        return make_unsubscribe_url(base, keyring, site_id, contact_id, channel)

    return link


@dataclass
class TriggerEngine:
    decider: Decider
    sender: Sender
    interval_s: float = 5.0
    watcher: CatalogWatcher | None = None

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
        if unsubscribe_link is None:
            unsubscribe_link = unsubscribe_links(settings, keyring)
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
        watcher = CatalogWatcher(engine, clock=clock)
        return cls(decider, sender, settings.triggers_tick_interval_s, watcher)

    def tick(self) -> tuple[DecideCounts, SendCounts]:
        """Wake what catalogue changes start, decide every due episode, then send every due
        message (one round)."""
        if self.watcher is not None:
            self.watcher.run()
        return self.decider.run_due(), self.sender.run_due()

    def run_forever(self, stop: threading.Event) -> None:
        """The worker's loop: a round every ``interval_s`` until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # a store error: the next round tries again
                log.error("triggers: round failed (%s: %s)", type(exc).__name__, exc)
            stop.wait(self.interval_s)
