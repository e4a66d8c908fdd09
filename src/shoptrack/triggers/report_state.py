"""The trigger report processor's state: read before a batch of one site, written after it.

* ``trigger_report_messages``: each clicked message's rule, send day, first click and whether
  an order was credited to it;
* ``trigger_report_visits``: the last message each visitor, and each message's contact, came
  through (the last-click attribution of orders);
* ``trigger_report_daily``: the counts, added to per batch.

Rows hold ids and counts, never an address or a name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, select, tuple_

from shoptrack.store.sql import add_counts, chunks, insert_for
from shoptrack.store.tables import (
    contact_visitors,
    trigger_messages,
    trigger_report_daily,
    trigger_report_messages,
    trigger_report_visits,
)

VISITOR = "visitor"
CONTACT = "contact"
Subject = tuple[str, str]  # (VISITOR | CONTACT, its id)
DayRule = tuple[str, str]  # (UTC day of the send, rule)
COUNTERS = ("clicked", "orders", "revenue")


@dataclass(slots=True)
class SentMessage:
    """A message as ``trigger_messages`` holds it: what a click on its link is tied to."""

    rule: str
    contact_id: str
    sent_at: int  # its send time; the decision's for a message whose send was never confirmed


@dataclass(slots=True)
class MessageClicks:
    rule: str
    day: str
    clicked_at: int
    converted_at: int | None = None


@dataclass(slots=True)
class Visit:
    message_id: str
    clicked_at: int


@dataclass(slots=True)
class Counts:
    clicked: int = 0
    orders: int = 0
    revenue: float = 0.0


@dataclass
class ReportState:
    messages: dict[str, MessageClicks] = field(default_factory=dict)
    visits: dict[Subject, Visit] = field(default_factory=dict)
    dirty_messages: set[str] = field(default_factory=set)
    dirty_visits: set[Subject] = field(default_factory=set)


def sent_messages(conn: Connection, site_id: str, message_ids: list[str]) -> dict[str, SentMessage]:
    """The site's messages among these ids (a link copied to another site names none)."""
    m = trigger_messages.c
    found: dict[str, SentMessage] = {}
    for part in chunks(message_ids):
        stmt = select(m.message_id, m.rule, m.contact_id, m.sent_at, m.decided_at).where(
            m.site_id == site_id, m.message_id.in_(part)
        )
        for r in conn.execute(stmt):
            at = r.sent_at if r.sent_at is not None else r.decided_at
            found[str(r.message_id)] = SentMessage(str(r.rule), str(r.contact_id), int(at))
    return found


def contacts_of(conn: Connection, site_id: str, visitors: list[str]) -> dict[str, str]:
    """The contact each of these visitors is linked to now (the identity processor's links)."""
    c = contact_visitors.c
    found: dict[str, str] = {}
    for part in chunks(visitors):
        stmt = select(c.visitor_id, c.contact_id).where(
            c.site_id == site_id, c.visitor_id.in_(part)
        )
        found.update({str(r.visitor_id): str(r.contact_id) for r in conn.execute(stmt)})
    return found


def load(
    conn: Connection, site_id: str, subjects: list[Subject], message_ids: list[str]
) -> ReportState:
    """The visits of these subjects, and the click state of their messages and of these."""
    state = ReportState()
    v = trigger_report_visits.c
    for part in chunks(subjects):
        stmt = select(trigger_report_visits).where(
            v.site_id == site_id, tuple_(v.subject, v.subject_id).in_(part)
        )
        for r in conn.execute(stmt):
            state.visits[(r.subject, r.subject_id)] = Visit(r.message_id, int(r.clicked_at))
    wanted = sorted(set(message_ids) | {visit.message_id for visit in state.visits.values()})
    m = trigger_report_messages.c
    for id_part in chunks(wanted):
        stmt = select(trigger_report_messages).where(
            m.site_id == site_id, m.message_id.in_(id_part)
        )
        for r in conn.execute(stmt):
            converted = int(r.converted_at) if r.converted_at is not None else None
            state.messages[r.message_id] = MessageClicks(
                r.rule, r.day, int(r.clicked_at), converted
            )
    return state


def write(
    conn: Connection, site_id: str, state: ReportState, counts: dict[DayRule, Counts]
) -> None:
    if counts:
        rows = [
            {"site_id": site_id, "day": day, "rule": rule, **{n: getattr(c, n) for n in COUNTERS}}
            for (day, rule), c in sorted(counts.items())
        ]
        add_counts(conn, trigger_report_daily, ["site_id", "day", "rule"], COUNTERS, rows)
    if state.dirty_messages:
        messages: list[dict[str, Any]] = [
            {
                "site_id": site_id,
                "message_id": message_id,
                "rule": m.rule,
                "day": m.day,
                "clicked_at": m.clicked_at,
                "converted_at": m.converted_at,
            }
            for message_id in sorted(state.dirty_messages)
            for m in (state.messages[message_id],)
        ]
        stmt = insert_for(conn, trigger_report_messages)
        stmt = stmt.on_conflict_do_update(
            index_elements=["site_id", "message_id"],
            set_={"converted_at": stmt.excluded.converted_at},
        )
        for part in chunks(messages):
            conn.execute(stmt, list(part))
    if state.dirty_visits:
        visits = [
            {
                "site_id": site_id,
                "subject": subject,
                "subject_id": subject_id,
                "message_id": visit.message_id,
                "clicked_at": visit.clicked_at,
            }
            for (subject, subject_id) in sorted(state.dirty_visits)
            for visit in (state.visits[(subject, subject_id)],)
        ]
        stmt = insert_for(conn, trigger_report_visits)
        stmt = stmt.on_conflict_do_update(
            index_elements=["site_id", "subject", "subject_id"],
            set_={"message_id": stmt.excluded.message_id, "clicked_at": stmt.excluded.clicked_at},
        )
        for part in chunks(visits):
            conn.execute(stmt, list(part))


def forget_visits(
    conn: Connection, site_id: str, contact_ids: list[str], visitor_ids: list[str]
) -> dict[str, int]:
    """An erasure's step: the person's last clicks go (their visitor and contact ids lead back
    to them); the daily counts and each message's click state hold no id of theirs and stay.
    A later order of theirs is then nobody's, as for any visitor without a click."""
    v = trigger_report_visits.c
    deleted = 0
    for subject, ids in ((VISITOR, visitor_ids), (CONTACT, contact_ids)):
        for part in chunks(ids):
            deleted += conn.execute(
                delete(trigger_report_visits).where(
                    v.site_id == site_id, v.subject == subject, v.subject_id.in_(part)
                )
            ).rowcount
    return {"trigger_report_visits_deleted": deleted}


def reset(conn: Connection) -> None:
    """Forget every derived row (the caller moves the cursor back to 0 in the same transaction)."""
    for table in (trigger_report_daily, trigger_report_messages, trigger_report_visits):
        conn.execute(table.delete())
