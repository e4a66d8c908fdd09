"""Messages as the API and CLI see them: pages with filters, one message, a retry by hand."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, select, update

from shoptrack.errors import Conflict, NotFound, Reason, ShoptrackError
from shoptrack.events.model import iso_ms
from shoptrack.store.db import WriteTurn
from shoptrack.store.tables import trigger_attempts, trigger_messages
from shoptrack.triggers.model import MessageStatus
from shoptrack.triggers.rules import parse_rule


def message_json(row: Any) -> dict[str, Any]:
    content = orjson.loads(row.content or "{}")
    return {
        "message_id": row.message_id,
        "rule": row.rule,
        "contact_id": row.contact_id,
        "channel": row.channel,
        "status": row.status,
        "reason": row.reason,
        "episode_key": row.episode_key,
        "due_at": iso_ms(row.due_at),
        "decided_at": iso_ms(row.decided_at),
        "sent_at": iso_ms(row.sent_at),
        "attempts": row.attempts,
        "next_attempt_at": iso_ms(row.next_attempt_at),
        "last_error": row.last_error,
        "products": content.get("products") or [],
        "recommendations": content.get("recommendations") or [],
    }


def parse_status(value: str) -> MessageStatus:
    try:
        return MessageStatus(value)
    except ValueError:
        known = ", ".join(s.value for s in MessageStatus)
        raise ShoptrackError(
            Reason.INVALID_VALUE, f"status: {value[:40]!r} is not one of {known}", "status"
        ) from None


def list_messages(
    engine: Engine,
    site_id: str,
    *,
    rule: str | None = None,
    status: str | None = None,
    contact_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, a page at a time; the cursor is the last message id of the page."""
    m = trigger_messages.c
    stmt = select(trigger_messages).where(m.site_id == site_id)
    if rule:
        stmt = stmt.where(m.rule == parse_rule(rule).value)
    if status:
        stmt = stmt.where(m.status == parse_status(status).value)
    if contact_id:
        stmt = stmt.where(m.contact_id == contact_id[:64])
    if cursor:
        stmt = stmt.where(m.message_id < cursor[:40])
    with engine.connect() as conn:
        rows = conn.execute(stmt.order_by(m.message_id.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    page = [message_json(r) for r in rows[:limit]]
    return page, (page[-1]["message_id"] if more else None)


def get_message(engine: Engine, site_id: str, message_id: str) -> dict[str, Any]:
    m, a = trigger_messages.c, trigger_attempts.c
    with engine.connect() as conn:
        row = conn.execute(
            select(trigger_messages).where(m.site_id == site_id, m.message_id == message_id[:40])
        ).first()
        if row is None:
            raise NotFound(f"message {message_id[:40]} was not found", "message_id")
        attempts = conn.execute(
            select(trigger_attempts).where(a.message_id == row.message_id).order_by(a.attempt)
        ).all()
    out = message_json(row)
    out["attempt_log"] = [
        {
            "attempt": r.attempt,
            "started_at": iso_ms(r.started_at),
            "finished_at": iso_ms(r.finished_at),
            "outcome": r.outcome,
            "detail": r.detail,
        }
        for r in attempts
    ]
    return out


def retry_message(engine: Engine, site_id: str, message_id: str, now: int) -> dict[str, Any]:
    """A failed message is pending again, to be sent at the next round."""
    m = trigger_messages.c
    current = get_message(engine, site_id, message_id)
    if current["status"] != MessageStatus.FAILED.value:
        raise Conflict(
            f"only a failed message can be retried; this one is {current['status']}", "status"
        )
    with WriteTurn(engine)(), engine.begin() as conn:
        changed = conn.execute(
            update(trigger_messages)
            .where(
                m.site_id == site_id,
                m.message_id == current["message_id"],
                m.status == MessageStatus.FAILED.value,
            )
            .values(
                status=MessageStatus.PENDING.value, next_attempt_at=now, reason="retried by hand"
            )
        ).rowcount
    if not changed:
        raise Conflict("the message changed meanwhile; look again", "status")
    return get_message(engine, site_id, message_id)
