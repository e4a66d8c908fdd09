"""What an erasure removes from the trigger engine (an ``ErasureStep`` of ``identity.erasure``).

* open and ended episodes and the watched products (views, wishlist) of the person's
  visitors go (their visitor ids lead back to events
  whose visitor ids erasure has just replaced);
* messages stay, so that the per-rule counts and reports stay right, but lose everything that
  could lead back to the person: the contact id becomes one fresh random id, the content (the
  products and recommendations, the search query), the episode key (a shop's cart GUID can be
  looked up in the shop's own database) and every error text go; a message not sent yet is
  cancelled ("contact erased");
* unsubscribes of the contact go with the contact: a person who comes back after an erasure
  is a new contact, and the shop's own consent records decide about them.
"""

from __future__ import annotations

import secrets

from sqlalchemy import Connection, String, and_, delete, literal, select, update

from shoptrack.store.sql import chunks
from shoptrack.store.tables import (
    trigger_attempts,
    trigger_candidates,
    trigger_messages,
    trigger_unsubscribes,
    trigger_watches,
)
from shoptrack.triggers.model import MessageStatus

ERASED_REASON = "contact erased"
_NOT_SENT = (MessageStatus.PENDING.value, MessageStatus.SENDING.value)


def forget_contact(
    conn: Connection, site_id: str, contact_ids: list[str], visitor_ids: list[str]
) -> dict[str, int]:
    """Forget the person in the trigger tables, in the erasure's transaction; counts by name."""
    episodes = 0
    for part in chunks(visitor_ids):
        episodes += conn.execute(
            delete(trigger_candidates).where(
                trigger_candidates.c.site_id == site_id, trigger_candidates.c.visitor_id.in_(part)
            )
        ).rowcount
        conn.execute(
            delete(trigger_watches).where(
                trigger_watches.c.site_id == site_id, trigger_watches.c.visitor_id.in_(part)
            )
        )
    m = trigger_messages.c
    of_person = and_(m.site_id == site_id, m.contact_id.in_(contact_ids))
    conn.execute(
        update(trigger_messages)
        .where(of_person, m.status.in_(_NOT_SENT))
        .values(status=MessageStatus.CANCELLED.value, reason=ERASED_REASON, next_attempt_at=None)
    )
    ids = select(m.message_id).where(of_person).scalar_subquery()
    conn.execute(
        update(trigger_attempts).where(trigger_attempts.c.message_id.in_(ids)).values(detail=None)
    )
    anonymous = "erased-" + secrets.token_hex(12)
    messages = conn.execute(
        update(trigger_messages)
        .where(of_person)
        .values(
            contact_id=anonymous,
            episode_key=literal("erased-", String).concat(m.message_id),
            content="{}",
            last_error=None,
        )
    ).rowcount
    unsubscribes = conn.execute(
        delete(trigger_unsubscribes).where(
            trigger_unsubscribes.c.site_id == site_id,
            trigger_unsubscribes.c.contact_id.in_(contact_ids),
        )
    ).rowcount
    return {
        "trigger_episodes_deleted": episodes,
        "trigger_messages_anonymised": messages,
        "trigger_unsubscribes_deleted": unsubscribes,
    }
