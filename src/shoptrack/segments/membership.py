"""Who is in a segment now, kept by comparing an evaluation with the stored members: people
who entered or left are recorded with the time (``segment_changes``), and the count's history
grows by one row whenever the count changes (``segment_counts``).

A full refresh evaluates everyone; after a batch of events, only the people of the batch's
visitors and contacts are evaluated (``Scope``), which is what keeps membership current as
events arrive at a cost per event instead of per site. Time alone also moves people out (a
window slides past their last view): the worker refreshes every segment in full every
``segment_refresh_s`` for that.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select, update

from shoptrack.identity.crypto import Keyring
from shoptrack.segments.compile import ANONYMOUS_PREFIX, Scope, evaluate
from shoptrack.segments.repo import Segment
from shoptrack.store.sql import chunks, insert_for
from shoptrack.store.tables import (
    contact_visitors,
    segment_changes,
    segment_counts,
    segment_members,
    segments,
)

ENTERED = "entered"
LEFT = "left"


@dataclass(frozen=True)
class Refresh:
    segment_id: int
    entered: int
    left: int
    members: int


def people_of(
    conn: Connection, site_id: str, visitors: Iterable[str], contacts: Iterable[str]
) -> tuple[set[str], list[str], list[str]]:
    """The people these visitors and contacts are, and every visitor and contact whose facts
    make them up (a contact's other devices included), for an incremental evaluation."""
    visitor_ids = set(visitors)
    contact_ids = set(contacts)
    c = contact_visitors.c
    for part in chunks(sorted(visitor_ids)):
        contact_ids.update(
            conn.execute(
                select(c.contact_id).where(c.site_id == site_id, c.visitor_id.in_(part))
            ).scalars()
        )
    for part in chunks(sorted(contact_ids)):
        visitor_ids.update(
            conn.execute(
                select(c.visitor_id).where(c.site_id == site_id, c.contact_id.in_(part))
            ).scalars()
        )
    people = set(contact_ids) | {ANONYMOUS_PREFIX + v for v in visitor_ids}
    return people, sorted(visitor_ids), sorted(contact_ids)


def _stored(conn: Connection, segment: Segment, people: set[str] | None) -> set[str]:
    m = segment_members.c
    base = select(m.person).where(m.site_id == segment.site_id, m.segment_id == segment.segment_id)
    if people is None:
        return set(conn.execute(base).scalars())
    found: set[str] = set()
    for part in chunks(sorted(people)):
        found.update(conn.execute(base.where(m.person.in_(part))).scalars())
    return found


def refresh(
    conn: Connection,
    segment: Segment,
    now: int,
    *,
    visitors: Iterable[str] | None = None,
    contacts: Iterable[str] | None = None,
    keyring: Keyring | None = None,
) -> Refresh:
    """Bring the stored members in line with an evaluation at ``now`` (everyone, or only the
    people of ``visitors``/``contacts``), recording who entered and who left."""
    site_id, segment_id = segment.site_id, segment.segment_id
    if visitors is None and contacts is None:
        current = evaluate(conn, segment.definition, Scope(site_id, now), keyring)
        stored = _stored(conn, segment, None)
    else:
        people, visitor_ids, contact_ids = people_of(conn, site_id, visitors or (), contacts or ())
        scope = Scope(site_id, now, visitor_ids, contact_ids)
        current = evaluate(conn, segment.definition, scope, keyring) & people
        stored = _stored(conn, segment, people)
    entered, left = current - stored, stored - current
    m = segment_members.c
    for part in chunks(sorted(left)):
        conn.execute(
            delete(segment_members).where(
                m.site_id == site_id, m.segment_id == segment_id, m.person.in_(part)
            )
        )
    for part in chunks(sorted(entered)):
        conn.execute(
            insert(segment_members),
            [
                {"site_id": site_id, "segment_id": segment_id, "person": p, "entered_at": now}
                for p in part
            ],
        )
    changes = [(p, ENTERED) for p in sorted(entered)] + [(p, LEFT) for p in sorted(left)]
    for batch in chunks(changes):
        conn.execute(
            insert(segment_changes),
            [
                {
                    "site_id": site_id,
                    "segment_id": segment_id,
                    "person": p,
                    "change": kind,
                    "at": now,
                }
                for p, kind in batch
            ],
        )
    full = visitors is None and contacts is None
    row = segments.c
    values: dict[str, object] = (
        {"members": len(current), "refreshed_at": now}
        if full
        else {"members": row.members + len(entered) - len(left)}
    )
    members = conn.execute(
        update(segments)
        .where(row.site_id == site_id, row.segment_id == segment_id)
        .values(**values)
        .returning(row.members)
    ).scalar_one()
    if entered or left or (full and segment.refreshed_at is None):
        conn.execute(
            insert_for(conn, segment_counts)
            .values(site_id=site_id, segment_id=segment_id, at=now, members=members)
            .on_conflict_do_update(
                index_elements=["site_id", "segment_id", "at"], set_={"members": members}
            )
        )
    return Refresh(segment_id, len(entered), len(left), members)


def is_member(conn: Connection, site_id: str, segment_id: int, people: list[str]) -> bool:
    """One of these ids (a contact and those merged into it) is in the segment now."""
    m = segment_members.c
    found = conn.execute(
        select(m.person)
        .where(m.site_id == site_id, m.segment_id == segment_id, m.person.in_(people))
        .limit(1)
    ).first()
    return found is not None


def forget_person(
    conn: Connection, site_id: str, contact_ids: list[str], visitor_ids: list[str]
) -> int:
    """Erasure: the person leaves every segment at once, and their past entries and exits go
    (an export of changes must not carry them). Counts stay as they were recorded."""
    people = list(contact_ids) + [ANONYMOUS_PREFIX + v for v in visitor_ids]
    removed = 0
    for table in (segment_members, segment_changes):
        for part in chunks(people):
            removed += conn.execute(
                delete(table).where(table.c.site_id == site_id, table.c.person.in_(part))
            ).rowcount
    # The members column is a cache of the count: recount the site's segments.
    m = segment_members.c
    count = (
        select(func.count())
        .where(m.site_id == segments.c.site_id, m.segment_id == segments.c.segment_id)
        .scalar_subquery()
    )
    conn.execute(update(segments).where(segments.c.site_id == site_id).values(members=count))
    return removed
