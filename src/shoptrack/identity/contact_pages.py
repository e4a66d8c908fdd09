"""Contacts as the dashboard reads them: newest first, found by any identifier, their devices.

The API's reads (``contacts.py``) page by id and answer JSON; a person reading a list wants
the newest first, a search box that takes an e-mail, a phone or an external id without being
told which, and a contact's devices. Profiles are decrypted only for the rows shown; a row
whose key is lost is listed with the problem rather than failing the page. Nothing here
writes: erasure stays ``erasure.py``'s (through ``services.erase_contact``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, and_, func, or_, select

from shoptrack.errors import KeyMissing, NotFound, ShoptrackError
from shoptrack.identity.contacts import LOOKUP_KINDS, ContactService
from shoptrack.identity.crypto import Keyring
from shoptrack.identity.store import record_from_row, resolve_contact_row, visitors_of
from shoptrack.store.sql import chunks
from shoptrack.store.tables import audit_log, contact_visitors, contacts, events

ERASE_ACTION = "contact.erase"  # erasure.py's audit action


@dataclass(frozen=True, slots=True)
class ContactRow:
    contact_id: str
    created_at: int
    updated_at: int
    source: str
    profile: dict[str, Any] | None  # None when it cannot be decrypted (``problem`` says why)
    visitors: int
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class ContactListPage:
    contacts: list[ContactRow]
    older: str | None  # the cursor of the next page: "<created_at>.<contact_id>"


@dataclass(frozen=True, slots=True)
class Device:
    """One visitor (a browser on a device) of a contact, as its events describe it."""

    visitor_id: str
    linked_at: int
    first_seen: int | None
    last_seen: int | None
    browser: str | None
    os: str | None
    device: str | None


def parse_cursor(raw: str | None) -> tuple[int, str] | None:
    """``"<created_at>.<contact_id>"`` from a page link; None when absent or malformed."""
    if not raw:
        return None
    at, _, contact_id = raw.partition(".")
    if not at.isdigit() or not contact_id or len(at) > 18:
        return None
    return int(at), contact_id[:64]


def _row(row: Any, keyring: Keyring, visitors: int) -> ContactRow:
    try:
        profile: dict[str, Any] | None = record_from_row(row, keyring).profile
        problem = None
    except KeyMissing as error:
        profile, problem = None, error.message
    return ContactRow(
        row.contact_id, row.created_at, row.updated_at, row.source, profile, visitors, problem
    )


def _visitor_counts(conn: Connection, site_id: str, ids: list[str]) -> dict[str, int]:
    if not ids:
        return {}
    v = contact_visitors.c
    stmt = (
        select(v.contact_id, func.count())
        .where(v.site_id == site_id, v.contact_id.in_(ids))
        .group_by(v.contact_id)
    )
    return {str(cid): int(n) for cid, n in conn.execute(stmt)}


def newest_contacts(
    engine: Engine, keyring: Keyring, site_id: str, before: str | None, limit: int = 50
) -> ContactListPage:
    """The site's live contacts, newest first, by ``(created_at, contact_id)`` keyset
    (index ``ix_contacts_site_created``): stable while contacts are added."""
    c = contacts.c
    stmt = select(contacts).where(c.site_id == site_id, c.merged_into.is_(None))
    cursor = parse_cursor(before)
    if cursor is not None:
        at, cid = cursor
        stmt = stmt.where(or_(c.created_at < at, and_(c.created_at == at, c.contact_id < cid)))
    stmt = stmt.order_by(c.created_at.desc(), c.contact_id.desc()).limit(limit + 1)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
        shown = rows[:limit]
        counts = _visitor_counts(conn, site_id, [r.contact_id for r in shown])
        out = [_row(r, keyring, counts.get(r.contact_id, 0)) for r in shown]
    older = f"{shown[-1].created_at}.{shown[-1].contact_id}" if len(rows) > limit else None
    return ContactListPage(out, older)


def search_contacts(
    service: ContactService, site_id: str, value: str, kind: str | None = None
) -> list[ContactRow]:
    """Live contacts whose e-mail, phone or external id (or only ``kind``) is ``value``.

    Each kind is looked up through its blind index; a value that is not a valid e-mail or
    phone is simply not one of those (an error only when ``kind`` asked for exactly that).
    """
    found: list[str] = []
    for one in (kind,) if kind else LOOKUP_KINDS:
        try:
            contact_id = service.find_id(site_id, one, value)
        except NotFound:
            continue
        except ShoptrackError:
            if kind:
                raise
            continue
        if contact_id not in found:
            found.append(contact_id)
    c = contacts.c
    with service.engine.connect() as conn:
        rows = (
            {
                r.contact_id: r
                for r in conn.execute(
                    select(contacts).where(c.site_id == site_id, c.contact_id.in_(found))
                )
            }
            if found
            else {}
        )
        counts = _visitor_counts(conn, site_id, found)
    return [_row(rows[i], service.keyring, counts.get(i, 0)) for i in found if i in rows]


def contact_visitor_ids(engine: Engine, site_id: str, contact_id: str) -> tuple[str, list[str]]:
    """(the live contact's id, its visitors' ids), following merges, decrypting nothing;
    ``("", [])`` when there is no such contact."""
    with engine.connect() as conn:
        row = resolve_contact_row(conn, site_id, contact_id[:64])
        if row is None:
            return "", []
        return row.contact_id, [v["visitor_id"] for v in visitors_of(conn, site_id, row.contact_id)]


def contacts_of_visitors(engine: Engine, site_id: str, visitor_ids: list[str]) -> dict[str, str]:
    """visitor id → the contact it is linked to, for those that are."""
    wanted = sorted({v for v in visitor_ids if v})
    out: dict[str, str] = {}
    v = contact_visitors.c
    with engine.connect() as conn:
        for part in chunks(wanted):
            stmt = select(v.visitor_id, v.contact_id).where(
                v.site_id == site_id, v.visitor_id.in_(part)
            )
            out.update({str(a): str(b) for a, b in conn.execute(stmt)})
    return out


def _edge_event(conn: Connection, site_id: str, visitor_id: str, newest: bool) -> Any:
    seq = events.c.seq.desc() if newest else events.c.seq
    stmt = (
        select(events.c.occurred_at, events.c.data)
        .where(events.c.site_id == site_id, events.c.visitor_id == visitor_id)
        .order_by(seq)
        .limit(1)
    )
    return conn.execute(stmt).first()


def devices_of(engine: Engine, site_id: str, contact_id: str, limit: int = 50) -> list[Device]:
    """The contact's visitors (at most ``limit``, latest linked first) with when each was
    first and last seen and the browser of its latest event: two index reads per visitor."""
    with engine.connect() as conn:
        linked = visitors_of(conn, site_id, contact_id)[-limit:][::-1]
        out: list[Device] = []
        for visitor in linked:
            last = _edge_event(conn, site_id, visitor["visitor_id"], newest=True)
            first = _edge_event(conn, site_id, visitor["visitor_id"], newest=False)
            agent: dict[str, Any] = {}
            if last is not None:
                agent = orjson.loads(last.data).get("user_agent") or {}
            out.append(
                Device(
                    visitor["visitor_id"],
                    visitor["linked_at"],
                    first.occurred_at if first is not None else None,
                    last.occurred_at if last is not None else None,
                    agent.get("browser"),
                    agent.get("os"),
                    agent.get("device"),
                )
            )
    return out


def erasure_record(engine: Engine, site_id: str, audit_id: str) -> dict[str, Any] | None:
    """An erasure's audit entry (counts and ids only, never personal data), or None."""
    a = audit_log.c
    stmt = select(a.at, a.actor, a.subject, a.details).where(
        a.site_id == site_id, a.audit_id == audit_id[:64], a.action == ERASE_ACTION
    )
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    if row is None:
        return None
    details: dict[str, Any] = orjson.loads(row.details or "{}")
    return {"at": row.at, "actor": row.actor, "subject": row.subject, "details": details}
