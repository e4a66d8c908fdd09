"""The decider: due episodes become at most one message each, decided from the data of now.

For each open episode whose ``due_at`` has passed (``trigger_candidates``), it first evaluates
the rule (``conditions.evaluate``) on a plain read connection and gathers the message's
products and recommendations, then, in one short transaction under the site's trigger lock
(PostgreSQL advisory lock; SQLite's write turn), checks that the episode is still the one it
read (open, same last event) and writes the outcome:

* no row when the visitor is anonymous or the rule is off, or a catalogue rule finds no new
  change (the episode ends, the reason is kept on it), or when the condition is not due yet
  (the episode's due time moves);
* otherwise one ``trigger_messages`` row, inserted with ``ON CONFLICT DO NOTHING`` on
  ``(site_id, rule, contact_id, episode_key)`` (for wishlist, price_drop and back_in_stock
  the episode is the product change the message carries): ``pending`` (to send), ``cancelled`` (the
  condition no longer holds: an order, an emptied cart) or ``suppressed`` (unsubscribed, no
  address, a cap). Two deciders, two workers or a crash and a restart can never make two rows
  for one episode. The caps are checked again under the lock.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, select, update

from shoptrack.errors import NotFound
from shoptrack.events.model import iso_ms
from shoptrack.identity.crypto import Keyring
from shoptrack.identity.store import take_sqlite_write_lock
from shoptrack.store.db import WriteTurn
from shoptrack.store.sql import insert_for, now_ms, pg_site_lock
from shoptrack.store.tables import trigger_candidates, trigger_messages
from shoptrack.triggers.catalog_rules import already_carried
from shoptrack.triggers.conditions import (
    CATALOG_RULES,
    Recommender,
    Verdict,
    cap_reason,
    contact_of_visitor,
    evaluate,
    fill_products,
    load_contact_view,
    recommendation_items,
)
from shoptrack.triggers.model import MessageStatus, Rule
from shoptrack.triggers.rules import RuleSettings, read_rules
from shoptrack.triggers.schedule import DONE, OPEN

log = logging.getLogger(__name__)
# Milliseconds since the epoch; tests pass their own and move it forward.
Clock = Callable[[], int]
LOCK_NAMESPACE = "shoptrack-triggers"
# Decisions written per transaction: one commit (an fsync on SQLite) for up to this many.
WRITE_GROUP = 100


def new_message_id(now: int) -> str:
    """Random, and sorting by time of decision (the API pages by it)."""
    return f"m{now:012x}{secrets.token_hex(8)}"


def lock_site_triggers(conn: Connection, site_id: str) -> None:
    """One decider at a time per site until the transaction ends (caps stay exact)."""
    if conn.dialect.name == "postgresql":
        pg_site_lock(conn, LOCK_NAMESPACE, site_id)
    else:
        take_sqlite_write_lock(conn)


def safe_recommendations(
    recommender: Recommender | None, site_id: str, contact_id: str, keys: list[str]
) -> list[dict[str, Any]]:
    """Up to six recommendations; none (never an error) without a model or a catalogue."""
    if recommender is None:
        return []
    try:
        return recommendation_items(recommender(site_id, contact_id, keys))
    except Exception as exc:  # the message goes without them
        log.warning("triggers: no recommendations for site %s (%s)", site_id, exc)
        return []


@dataclass
class DecideCounts:
    due: int = 0
    messages: int = 0  # rows written (any status)
    pending: int = 0
    duplicates: int = 0  # another decider had written the episode's row already
    ended: int = 0  # episodes ended without a row
    deferred: int = 0  # not due yet, or changed while deciding


class Decider:
    def __init__(
        self,
        engine: Engine,
        keyring: Keyring,
        *,
        daily_cap: int = 2,
        recommender: Recommender | None = None,
        clock: Clock = now_ms,
        batch_size: int = 200,
    ) -> None:
        self.engine = engine
        self.keyring = keyring
        self.daily_cap = daily_cap
        self.recommender = recommender
        self.clock = clock
        self.batch_size = batch_size
        self._turn = WriteTurn(engine)

    def run_due(self) -> DecideCounts:
        """Decide up to ``batch_size`` due episodes: read and evaluate each on its own, then
        write a site's outcomes in transactions of up to ``WRITE_GROUP`` (one commit each)."""
        now = self.clock()
        c = trigger_candidates.c
        stmt = (
            select(trigger_candidates)
            .where(c.state == OPEN, c.due_at <= now)
            .order_by(c.due_at)
            .limit(self.batch_size)
        )
        with self.engine.connect() as conn:
            due = conn.execute(stmt).all()
            by_site: dict[str, list[Any]] = {}
            for candidate in due:
                by_site.setdefault(candidate.site_id, []).append(candidate)
            rules = {site_id: read_rules(conn, site_id) for site_id in by_site}
        counts = DecideCounts(due=len(due))
        for site_id, candidates in sorted(by_site.items()):
            for start in range(0, len(candidates), WRITE_GROUP):
                group = candidates[start : start + WRITE_GROUP]
                verdicts = [(cand, self._evaluate(cand, rules[site_id], now)) for cand in group]
                with self._turn(), self.engine.begin() as conn:
                    lock_site_triggers(conn, site_id)
                    for candidate, verdict in verdicts:
                        self._write(conn, candidate, verdict, rules[site_id], now, counts)
        return counts

    def _evaluate(self, candidate: Any, rules: dict[Rule, RuleSettings], now: int) -> Verdict:
        site_id, settings = candidate.site_id, rules[Rule(candidate.rule)]
        with self.engine.connect() as conn:
            contact_id = contact_of_visitor(conn, site_id, candidate.visitor_id)
            contact = (
                load_contact_view(conn, self.keyring, site_id, contact_id) if contact_id else None
            )
            verdict = evaluate(conn, site_id, settings, contact, now, self.daily_cap)
            if contact is not None:
                verdict.extra["contact_id"] = contact.contact_id
                verdict.extra["channel"] = settings.channel.value
            if verdict.sends:
                fill_products(conn, site_id, verdict)
        if verdict.sends and contact is not None:
            recommendations = safe_recommendations(
                self.recommender, site_id, contact.contact_id, verdict.product_keys
            )
            verdict.extra["recommendations"] = recommendations
        return verdict

    def _write(
        self,
        conn: Connection,
        candidate: Any,
        verdict: Verdict,
        rules: dict[Rule, RuleSettings],
        now: int,
        counts: DecideCounts,
    ) -> None:
        """The outcome of one evaluated episode, if the episode is still the one evaluated."""
        site_id = candidate.site_id
        c = trigger_candidates.c
        key = (c.site_id == site_id) & (c.rule == candidate.rule)
        key = key & (c.visitor_id == candidate.visitor_id)
        # SKIP LOCKED: a row the processor is changing right now is left for the next round;
        # waiting for it while holding the group's other rows could deadlock with its batch.
        current = conn.execute(
            select(trigger_candidates).where(key).with_for_update(skip_locked=True)
        ).first()
        if current is None or current.state != OPEN or current.last_seq != candidate.last_seq:
            counts.deferred += 1  # changed (or changing) while deciding: the next tick looks again
            return
        if verdict.status is None:
            if verdict.reason == "not due yet" and verdict.due_at is not None:
                conn.execute(update(trigger_candidates).where(key).values(due_at=verdict.due_at))
                counts.deferred += 1
                return
            self._end(conn, key, verdict.reason)
            counts.ended += 1
            return
        contact_id = str(verdict.extra.pop("contact_id"))
        if verdict.rule in CATALOG_RULES and already_carried(conn, site_id, contact_id, verdict):
            # Another device's episode of the contact was decided first with one of these
            # changes (under this lock): a product change goes out once.
            self._end(conn, key, "already sent: a change was in an earlier message")
            counts.duplicates += 1
            return
        if verdict.status is MessageStatus.PENDING:
            # Again under the lock: an earlier outcome of this round may count already.
            settings = rules[verdict.rule]
            capped = cap_reason(conn, site_id, contact_id, settings, self.daily_cap, now)
            if capped is not None:
                verdict.status, verdict.reason = MessageStatus.SUPPRESSED, capped
        # A cart or browse message is the candidate's episode; a catalogue rule's is the change
        # it carries (one woken episode of a visitor may find any of its products' changes).
        episode = current.episode_key
        if verdict.rule in CATALOG_RULES and verdict.episode_key:
            episode = verdict.episode_key
        written = self._insert(conn, site_id, contact_id, episode, verdict, now)
        counts.messages += written
        counts.duplicates += 1 - written
        if written and verdict.status is MessageStatus.PENDING:
            counts.pending += 1
        self._end(conn, key, verdict.reason or verdict.status.value)

    def _end(self, conn: Connection, key: Any, reason: str | None) -> None:
        conn.execute(
            update(trigger_candidates)
            .where(key)
            .values(state=DONE, reason=reason, updated_at=now_ms())
        )

    def _insert(
        self,
        conn: Connection,
        site_id: str,
        contact_id: str,
        episode_key: str,
        verdict: Verdict,
        now: int,
    ) -> int:
        assert verdict.status is not None
        channel = str(verdict.extra.pop("channel"))
        recommendations = verdict.extra.pop("recommendations", [])
        content = {
            "products": verdict.products,
            "recommendations": recommendations,
            "extra": verdict.extra,
            "upto_seq": verdict.upto_seq,
        }
        stmt = (
            insert_for(conn, trigger_messages)
            .values(
                message_id=new_message_id(now),
                site_id=site_id,
                rule=verdict.rule.value,
                contact_id=contact_id,
                episode_key=episode_key,
                channel=channel,
                status=verdict.status.value,
                due_at=verdict.due_at if verdict.due_at is not None else now,
                decided_at=now,
                attempts=0,
                next_attempt_at=now if verdict.status is MessageStatus.PENDING else None,
                content=orjson.dumps(content).decode(),
                reason=verdict.reason,
            )
            .on_conflict_do_nothing(index_elements=["site_id", "rule", "contact_id", "episode_key"])
            .returning(trigger_messages.c.message_id)
        )
        # RETURNING, not rowcount: drivers disagree on the rowcount of a skipped insert.
        return 0 if conn.execute(stmt).first() is None else 1


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    """A verdict as ``triggers preview`` prints it."""
    extra = dict(verdict.extra)
    recommendations = extra.pop("recommendations", [])
    for name in ("contact_id", "channel"):
        extra.pop(name, None)
    return {
        "rule": verdict.rule.value,
        "would_send": verdict.sends,
        "status": verdict.status.value if verdict.status is not None else None,
        "reason": verdict.reason,
        "due_at": iso_ms(verdict.due_at),
        "episode_key": verdict.episode_key,
        "products": verdict.products,
        "recommendations": recommendations,
        "extra": extra,
    }


def preview(
    engine: Engine,
    keyring: Keyring,
    site_id: str,
    contact_id: str,
    now: int,
    daily_cap: int,
    recommender: Recommender | None = None,
) -> list[dict[str, Any]]:
    """What each rule would send the contact now, and why or why not. Writes nothing."""
    with engine.connect() as conn:
        contact = load_contact_view(conn, keyring, site_id, contact_id)
        if contact is None:
            raise NotFound(f"contact {contact_id} was not found", "contact_id")
        out = []
        for settings in read_rules(conn, site_id).values():
            verdict = evaluate(conn, site_id, settings, contact, now, daily_cap)
            if verdict.products:  # what it would carry, with today's prices, due or not
                fill_products(conn, site_id, verdict)
            if verdict.sends:
                verdict.extra["recommendations"] = safe_recommendations(
                    recommender, site_id, contact.contact_id, verdict.product_keys
                )
            item = verdict_json(verdict)
            item["enabled"] = settings.enabled
            item["channel"] = settings.channel.value
            out.append(item)
    return out
