"""The sender: pending messages go to their channel's :class:`~.model.Delivery`, attempt by
attempt, each attempt committed before the send is made.

A message is claimed with ``UPDATE … SET status='sending' WHERE status='pending'`` (one worker
wins), in the same transaction that records the attempt (``trigger_attempts``, no outcome yet);
the send follows the commit, and its outcome is recorded after it:

* ``sent``; ``failed`` (permanent); ``retry`` → ``pending`` again at ``next_attempt_at``
  (exponential backoff with jitter, ``triggers/retry.py``: 1, 2, 4 … minutes, then every 4
  hours), until 24 hours after the first attempt, then ``failed``.
* An attempt left without an outcome for ``stale_after`` belongs to a worker that died in the
  middle: it may have reached the server. An e-mail is then **not** sent again (``failed``,
  "outcome unknown after a crash; retry by hand": ``POST /api/v1/messages/{id}/retry``); a
  webhook is sent again with the same ``webhook-id`` (its receivers drop duplicates by it).

Just before claiming, the sender looks once more: an order after the decision cancels a cart or
browse message (a wishlist, price-drop or back-in-stock one when it names one of its
products), an unsubscribe cancels any, and an e-mail with no address left is suppressed.
A channel with no delivery configured leaves its messages pending (logged).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, func, select, update

from shoptrack.identity.crypto import Keyring
from shoptrack.metrics.instruments import instruments
from shoptrack.store.db import WriteTurn
from shoptrack.store.sql import chunks, insert_for, now_ms
from shoptrack.store.tables import events, sites, trigger_attempts, trigger_messages
from shoptrack.triggers.conditions import is_unsubscribed, load_contact_view
from shoptrack.triggers.decide import Clock
from shoptrack.triggers.model import (
    Channel,
    Delivery,
    DeliveryResult,
    MessageProduct,
    MessageStatus,
    Outcome,
    OutgoingMessage,
    Rule,
)
from shoptrack.triggers.retry import next_attempt_delay
from shoptrack.triggers.rules import read_rules
from shoptrack.triggers.schedule import GUID_PREFIX

log = logging.getLogger(__name__)
CRASH_REASON = "outcome unknown after a crash; retry by hand"
# (url, rule, channel, message_id) -> the link as the message carries it (sc_content, UTM).
LinkMaker = Callable[[str | None, Rule, Channel, str], str | None]
# (site_id, contact_id, channel) -> the contact's unsubscribe link.
UnsubscribeLink = Callable[[str, str, Channel], str | None]
CART_AND_BROWSE = (Rule.ABANDONED_CART.value, Rule.ABANDONED_BROWSE.value)
CATALOG_CHANGES = (Rule.WISHLIST.value, Rule.PRICE_DROP.value, Rule.BACK_IN_STOCK.value)
_PRODUCT_FIELDS = frozenset(MessageProduct.__dataclass_fields__)


@dataclass
class SendCounts:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    waiting: int = 0  # no delivery for the channel
    recovered: int = 0


class Sender:
    def __init__(
        self,
        engine: Engine,
        keyring: Keyring,
        deliveries: Mapping[Channel, Delivery],
        *,
        clock: Clock = now_ms,
        stale_after_ms: int = 300_000,
        link_maker: LinkMaker | None = None,
        unsubscribe_link: UnsubscribeLink | None = None,
        rng: random.Random | None = None,
        batch_size: int = 100,
    ) -> None:
        self.engine = engine
        self.keyring = keyring
        self.deliveries = dict(deliveries)
        self.clock = clock
        self.stale_after_ms = stale_after_ms
        self.link_maker = link_maker
        self.unsubscribe_link = unsubscribe_link
        self.rng = rng or random.Random()
        self.batch_size = batch_size
        self._turn = WriteTurn(engine)
        self._warned: set[Channel] = set()

    # --- crashed attempts --------------------------------------------------------------------
    def recover_stale(self) -> int:
        """Messages a dead worker left ``sending``: e-mail failed, webhook pending again."""
        now = self.clock()
        m, a = trigger_messages.c, trigger_attempts.c
        stmt = (
            select(m.message_id, m.channel, m.attempts)
            .join(trigger_attempts, (a.message_id == m.message_id) & (a.attempt == m.attempts))
            .where(
                m.status == MessageStatus.SENDING.value,
                a.outcome.is_(None),
                a.started_at < now - self.stale_after_ms,
            )
            .limit(self.batch_size)
        )
        with self.engine.connect() as conn:
            stale = conn.execute(stmt).all()
        recovered = 0
        for row in stale:
            resend = row.channel == Channel.WEBHOOK.value
            values: dict[str, Any] = (
                {"status": MessageStatus.PENDING.value, "next_attempt_at": now}
                if resend
                else {"status": MessageStatus.FAILED.value, "reason": CRASH_REASON}
            )
            with self._turn(), self.engine.begin() as conn:
                claimed = conn.execute(
                    update(trigger_messages)
                    .where(
                        m.message_id == row.message_id,
                        m.status == MessageStatus.SENDING.value,
                        m.attempts == row.attempts,
                    )
                    .values(last_error=CRASH_REASON, **values)
                ).rowcount
                if claimed:
                    conn.execute(
                        update(trigger_attempts)
                        .where(a.message_id == row.message_id, a.attempt == row.attempts)
                        .values(finished_at=now, outcome="unknown", detail=CRASH_REASON)
                    )
                    recovered += 1
        return recovered

    # --- sending -------------------------------------------------------------------------------
    def run_due(self) -> SendCounts:
        now = self.clock()
        counts = SendCounts(recovered=self.recover_stale())
        m = trigger_messages.c
        stmt = (
            select(trigger_messages)
            .where(m.status == MessageStatus.PENDING.value, m.next_attempt_at <= now)
            .order_by(m.next_attempt_at)
            .limit(self.batch_size)
        )
        with self.engine.connect() as conn:
            due = conn.execute(stmt).all()
        for row in due:
            channel = Channel(row.channel)
            delivery = self.deliveries.get(channel)
            if delivery is None:
                if channel not in self._warned:
                    self._warned.add(channel)
                    log.warning("triggers: no %s delivery configured; messages wait", channel)
                counts.waiting += 1
                continue
            self._send(row, delivery, counts)
        return counts

    def _send(self, row: Any, delivery: Delivery, counts: SendCounts) -> None:
        now = self.clock()
        m = trigger_messages.c
        with self._turn(), self.engine.begin() as conn:
            message, stop = self._prepare(conn, row, now)
            if stop is not None:
                status, reason = stop
                conn.execute(
                    update(trigger_messages)
                    .where(m.message_id == row.message_id, m.status == MessageStatus.PENDING.value)
                    .values(status=status.value, reason=reason, next_attempt_at=None)
                )
                counts.cancelled += 1
                return
            claimed = conn.execute(
                update(trigger_messages)
                .where(m.message_id == row.message_id, m.status == MessageStatus.PENDING.value)
                .values(status=MessageStatus.SENDING.value, attempts=m.attempts + 1)
            ).rowcount
            if not claimed:
                return  # another worker has it
            attempt = int(row.attempts) + 1
            conn.execute(
                insert_for(conn, trigger_attempts).values(
                    message_id=row.message_id, attempt=attempt, started_at=now
                )
            )
        assert message is not None
        # Committed: from here a crash leaves an attempt that "may have reached the server".
        try:
            result = delivery.send(message, attempt)
        except Exception as exc:  # the protocol says results, not errors; a bug is a retry
            result = DeliveryResult(Outcome.RETRY, f"delivery raised {type(exc).__name__}")
        self._record(row.message_id, attempt, result, counts)

    def _prepare(
        self, conn: Connection, row: Any, now: int
    ) -> tuple[OutgoingMessage | None, tuple[MessageStatus, str] | None]:
        site_id, channel, rule = row.site_id, Channel(row.channel), Rule(row.rule)
        content = orjson.loads(row.content or "{}")
        contact = load_contact_view(conn, self.keyring, site_id, row.contact_id)
        if contact is None:
            return None, (MessageStatus.CANCELLED, "the contact no longer exists")
        if is_unsubscribed(conn, site_id, contact.contact_id, channel):
            return None, (MessageStatus.CANCELLED, "unsubscribed")
        if row.rule in CART_AND_BROWSE and self._ordered_since(
            conn, site_id, contact.visitors, int(content.get("upto_seq") or 0), row.episode_key
        ):
            return None, (MessageStatus.CANCELLED, "ordered after the decision")
        if row.rule in CATALOG_CHANGES and self._bought_since(
            conn, site_id, contact.visitors, int(content.get("upto_seq") or 0), content
        ):
            return None, (MessageStatus.CANCELLED, "bought after the decision")
        if channel is Channel.EMAIL and contact.email is None:
            return None, (MessageStatus.SUPPRESSED, "no e-mail address")
        settings = read_rules(conn, site_id)[rule]
        site_name = conn.execute(select(sites.c.name).where(sites.c.site_id == site_id)).scalar()
        message = OutgoingMessage(
            message_id=row.message_id,
            site_id=site_id,
            site_name=str(site_name or site_id),
            rule=rule,
            channel=channel,
            contact_id=contact.contact_id,
            created_at_ms=int(row.decided_at),
            email=contact.email,
            webhook_url=settings.webhook_url,
            products=self._products(content.get("products"), rule, channel, row.message_id),
            recommendations=self._products(
                content.get("recommendations"), rule, channel, row.message_id
            ),
            unsubscribe_url=(
                self.unsubscribe_link(site_id, contact.contact_id, channel)
                if self.unsubscribe_link is not None
                else None
            ),
            template=settings.template,
            extra=dict(content.get("extra") or {}),
        )
        return message, None

    def _products(
        self, items: Any, rule: Rule, channel: Channel, message_id: str
    ) -> tuple[MessageProduct, ...]:
        out = []
        for item in items or ():
            if not isinstance(item, dict) or not isinstance(item.get("product_id"), str):
                continue
            fields = {k: v for k, v in item.items() if k in _PRODUCT_FIELDS}
            fields.setdefault("name", None)
            fields.setdefault("url", None)
            fields.setdefault("image_url", None)
            fields.setdefault("price", None)
            if self.link_maker is not None:
                fields["url"] = self.link_maker(fields["url"], rule, channel, message_id)
            quantity = fields.get("quantity")
            if quantity is not None and not isinstance(quantity, int):
                fields["quantity"] = int(quantity) if isinstance(quantity, float) else None
            out.append(MessageProduct(**fields))
        return tuple(out)

    def _ordered_since(
        self, conn: Connection, site_id: str, visitors: list[str], after: int, episode: str
    ) -> bool:
        e = events.c
        for part in chunks(visitors):
            stmt = select(e.seq).where(
                e.site_id == site_id,
                e.visitor_id.in_(part),
                e.type == "PurchasedItems",
                e.seq > after,
            )
            if conn.execute(stmt.limit(1)).first() is not None:
                return True
        if episode.startswith(GUID_PREFIX):
            stmt = select(e.seq).where(
                e.site_id == site_id,
                e.cart_guid == episode[len(GUID_PREFIX) :],
                e.type == "PurchasedItems",
            )
            return conn.execute(stmt.limit(1)).first() is not None
        return False

    def _bought_since(
        self, conn: Connection, site_id: str, visitors: list[str], after: int, content: Any
    ) -> bool:
        """An order of one of the message's products after the decision's newest event."""
        keys = {
            str(p.get("product_id")) for p in content.get("products") or () if isinstance(p, dict)
        }
        e = events.c
        for part in chunks(visitors):
            stmt = select(e.data).where(
                e.site_id == site_id,
                e.visitor_id.in_(part),
                e.type == "PurchasedItems",
                e.seq > after,
            )
            for data in conn.execute(stmt).scalars():
                body = orjson.loads(data)
                lines = body.get("products") if isinstance(body, dict) else None
                if any(isinstance(p, dict) and p.get("key") in keys for p in lines or ()):
                    return True
        return False

    def _record(
        self, message_id: str, attempt: int, result: DeliveryResult, counts: SendCounts
    ) -> None:
        now = self.clock()
        m, a = trigger_messages.c, trigger_attempts.c
        detail = result.detail[:2000]
        with self._turn(), self.engine.begin() as conn:
            conn.execute(
                update(trigger_attempts)
                .where(a.message_id == message_id, a.attempt == attempt)
                .values(finished_at=now, outcome=result.outcome.value, detail=detail)
            )
            values: dict[str, Any]
            if result.outcome is Outcome.SENT:
                values = {"status": MessageStatus.SENT.value, "sent_at": now, "reason": None}
                counts.sent += 1
            elif result.outcome is Outcome.FAILED:
                values = {"status": MessageStatus.FAILED.value, "last_error": detail}
                counts.failed += 1
            else:
                first = conn.execute(
                    select(func.min(a.started_at)).where(a.message_id == message_id)
                ).scalar()
                elapsed_s = (now - int(first or now)) / 1000
                delay_s = next_attempt_delay(attempt, elapsed_s, self.rng)
                if delay_s is None:
                    values = {
                        "status": MessageStatus.FAILED.value,
                        "last_error": detail,
                        "reason": "gave up after 24 hours of retries",
                    }
                    counts.failed += 1
                else:
                    values = {
                        "status": MessageStatus.PENDING.value,
                        "next_attempt_at": now + int(delay_s * 1000),
                        "last_error": detail,
                    }
                    counts.retried += 1
            conn.execute(
                update(trigger_messages)
                .where(m.message_id == message_id, m.status == MessageStatus.SENDING.value)
                .values(**values)
            )
        # After the commit: an attempt counts once its outcome is recorded.
        instruments().trigger_deliveries.labels(result.outcome.value).inc()
