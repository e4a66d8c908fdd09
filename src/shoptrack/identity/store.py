"""Rows of the identity tables: contacts, visitor links, pending identities, merges, audit.

Every function works on a connection inside the caller's transaction. Writers of one site's
contacts first call :func:`lock_site`, so a read-modify-write of an encrypted profile never
races another: on PostgreSQL a transaction-scoped advisory lock per site, on SQLite the
database's write lock, taken before the first read so the transaction's snapshot is current.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, and_, or_, select, update

from shoptrack.errors import KeyMissing
from shoptrack.identity.crypto import INDEX_KINDS, KeyMaterialError, Keyring, purpose_contact
from shoptrack.store.sql import chunks, insert_for, now_ms, pg_site_lock
from shoptrack.store.tables import (
    audit_log,
    contact_merges,
    contact_visitors,
    contacts,
    processor_cursors,
)

BIDX_COLUMNS = {"externalCustomerId": "external_bidx", "email": "email_bidx", "phone": "phone_bidx"}


def new_contact_id() -> str:
    return "ct_" + secrets.token_hex(10)


def lock_site(conn: Connection, site_id: str) -> None:
    """Serialize writers of one site's contacts until the transaction ends."""
    if conn.dialect.name == "postgresql":
        pg_site_lock(conn, "shoptrack-contacts", site_id)
    else:
        take_sqlite_write_lock(conn)


def take_sqlite_write_lock(conn: Connection) -> None:
    """A write that changes nothing still takes SQLite's write lock (waiting busy_timeout)."""
    conn.execute(
        update(processor_cursors)
        .where(processor_cursors.c.name == "")
        .values(position=processor_cursors.c.position)
    )


@dataclass(slots=True, eq=False)
class ContactRecord:
    """One contact as held in memory while a transaction works on it."""

    site_id: str
    contact_id: str
    created_at: int
    updated_at: int
    source: str
    profile: dict[str, Any] = field(default_factory=dict)
    merged_into: str | None = None
    is_new: bool = False
    dirty: bool = False
    stored_bidx: dict[str, str | None] = field(default_factory=dict)

    def identifiers(self) -> dict[str, str]:
        return {k: v for k in INDEX_KINDS if (v := self.profile.get(k))}

    def bidx(self, index: Callable[[str, str], str]) -> dict[str, str | None]:
        """The blind indexes of this contact's identifiers (``index(kind, value)``)."""
        values = self.identifiers() if self.merged_into is None else {}
        out: dict[str, str | None] = dict.fromkeys(INDEX_KINDS)
        for kind, value in values.items():
            out[kind] = index(kind, value)
        return out

    def age_key(self) -> tuple[int, str]:
        """Older first: the survivor of a merge is the smallest."""
        return (self.created_at, self.contact_id)


def decrypt_or_explain(keyring: Keyring, ciphertext: bytes, purpose: bytes, what: str) -> Any:
    """The decrypted JSON value, or a ``key_missing`` error naming ``what`` and the key id."""
    try:
        return keyring.decrypt_json(ciphertext, purpose)
    except KeyMaterialError as exc:
        raise KeyMissing(
            f"{what} cannot be decrypted: {exc}; restore the key file from backup "
            "(a contact can still be erased without it)",
            "id",
        ) from None


def record_from_row(row: Any, keyring: Keyring) -> ContactRecord:
    profile: dict[str, Any] = {}
    if row.profile_enc is not None:
        purpose = purpose_contact(row.site_id, row.contact_id)
        profile = decrypt_or_explain(keyring, row.profile_enc, purpose, f"contact {row.contact_id}")
    return ContactRecord(
        site_id=row.site_id,
        contact_id=row.contact_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        source=row.source,
        profile=profile,
        merged_into=row.merged_into,
        stored_bidx={k: getattr(row, c) for k, c in BIDX_COLUMNS.items()},
    )


def contact_values(
    record: ContactRecord, keyring: Keyring, bidx: dict[str, str | None]
) -> dict[str, Any]:
    """The column values of a contact row (profile encrypted, identifiers as blind indexes)."""
    profile_enc = None
    if record.merged_into is None:
        purpose = purpose_contact(record.site_id, record.contact_id)
        profile_enc = keyring.encrypt_json(record.profile, purpose)
    return {
        "updated_at": record.updated_at,
        "source": record.source,
        "external_bidx": bidx["externalCustomerId"],
        "email_bidx": bidx["email"],
        "phone_bidx": bidx["phone"],
        "profile_enc": profile_enc,
        "merged_into": record.merged_into,
    }


def load_by_index(
    conn: Connection, keyring: Keyring, site_id: str, wanted: dict[str, set[str]]
) -> list[ContactRecord]:
    """Live contacts of a site whose blind index of any kind is among ``wanted[kind]``."""
    found: dict[str, ContactRecord] = {}
    for kind, values in wanted.items():
        column = contacts.c[BIDX_COLUMNS[kind]]
        for part in chunks(sorted(values)):
            stmt = select(contacts).where(contacts.c.site_id == site_id, column.in_(part))
            for row in conn.execute(stmt):
                if row.contact_id not in found:
                    found[row.contact_id] = record_from_row(row, keyring)
    return list(found.values())


def load_contact(
    conn: Connection, keyring: Keyring, site_id: str, contact_id: str
) -> ContactRecord | None:
    stmt = select(contacts).where(
        contacts.c.site_id == site_id, contacts.c.contact_id == contact_id
    )
    row = conn.execute(stmt).first()
    return record_from_row(row, keyring) if row is not None else None


def resolve_contact(
    conn: Connection, keyring: Keyring, site_id: str, contact_id: str
) -> ContactRecord | None:
    """The live contact for an id, following merges to the survivor."""
    seen: set[str] = set()
    record = load_contact(conn, keyring, site_id, contact_id)
    while record is not None and record.merged_into is not None and record.contact_id not in seen:
        seen.add(record.contact_id)
        record = load_contact(conn, keyring, site_id, record.merged_into)
    return record if record is not None and record.merged_into is None else None


def resolve_contact_row(conn: Connection, site_id: str, contact_id: str) -> Any | None:
    """The live contact row for an id, following merges, without decrypting anything."""
    seen: set[str] = set()
    stmt = select(contacts).where(contacts.c.site_id == site_id)
    row = conn.execute(stmt.where(contacts.c.contact_id == contact_id)).first()
    while row is not None and row.merged_into is not None and row.contact_id not in seen:
        seen.add(row.contact_id)
        row = conn.execute(stmt.where(contacts.c.contact_id == row.merged_into)).first()
    return row if row is not None and row.merged_into is None else None


def upsert_links(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Link visitors to contacts (a visitor belongs to one contact: the latest link wins)."""
    if not rows:
        return
    stmt = insert_for(conn, contact_visitors)
    stmt = stmt.on_conflict_do_update(
        index_elements=["site_id", "visitor_id"],
        set_={"contact_id": stmt.excluded.contact_id, "last_seq": stmt.excluded.last_seq},
    )
    conn.execute(stmt, rows)


def visitors_of(conn: Connection, site_id: str, contact_id: str) -> list[dict[str, Any]]:
    stmt = (
        select(contact_visitors.c.visitor_id, contact_visitors.c.linked_at)
        .where(contact_visitors.c.site_id == site_id, contact_visitors.c.contact_id == contact_id)
        .order_by(contact_visitors.c.linked_at, contact_visitors.c.visitor_id)
    )
    return [dict(row._mapping) for row in conn.execute(stmt)]


def move_links(conn: Connection, site_id: str, loser: str, survivor: str) -> None:
    conn.execute(
        update(contact_visitors)
        .where(contact_visitors.c.site_id == site_id, contact_visitors.c.contact_id == loser)
        .values(contact_id=survivor)
    )
    conn.execute(
        update(contacts)
        .where(contacts.c.site_id == site_id, contacts.c.merged_into == loser)
        .values(merged_into=survivor)
    )


def record_merge(
    conn: Connection, site_id: str, survivor: str, loser: str, matched_on: str, source: str
) -> None:
    conn.execute(
        contact_merges.insert().values(
            site_id=site_id,
            merge_id="mg_" + secrets.token_hex(10),
            survivor_id=survivor,
            merged_id=loser,
            matched_on=matched_on,
            source=source,
            merged_at=now_ms(),
        )
    )


def merges_of(conn: Connection, site_id: str, contact_id: str) -> list[dict[str, Any]]:
    stmt = (
        select(contact_merges)
        .where(
            contact_merges.c.site_id == site_id,
            or_(
                contact_merges.c.survivor_id == contact_id,
                contact_merges.c.merged_id == contact_id,
            ),
        )
        .order_by(contact_merges.c.merged_at)
    )
    return [dict(row._mapping) for row in conn.execute(stmt)]


def merged_ids(conn: Connection, site_id: str, contact_id: str) -> list[str]:
    stmt = select(contacts.c.contact_id).where(
        and_(contacts.c.site_id == site_id, contacts.c.merged_into == contact_id)
    )
    return [str(v) for v in conn.execute(stmt).scalars()]


def write_audit(
    conn: Connection,
    site_id: str,
    action: str,
    subject: str | None,
    actor: str,
    details: dict[str, Any],
) -> str:
    """One audit entry. ``details`` must hold ids and counts only, never personal data."""
    audit_id = "au_" + secrets.token_hex(10)
    conn.execute(
        audit_log.insert().values(
            site_id=site_id,
            audit_id=audit_id,
            at=now_ms(),
            action=action,
            subject=subject,
            actor=actor,
            details=orjson.dumps(details).decode(),
        )
    )
    return audit_id
