"""Erasure (right to be forgotten): the person's data goes, their events stay, unlinkable.

``erase_contact`` first lets the identity processor catch up (so no identity of theirs still
waits in the log to be linked again), then, in one transaction under the site's contact lock:

* every event of the contact's visitors loses its encrypted identity (``identity_enc``), and
  its visitor id is replaced by a fresh random one (one per former visitor, so counts of
  unique visitors stay right); the event JSON gets the same visitor id, no ``contact_id``, no
  IP prefix and ``identified: false``;
* the visitor links, pending identities of those visitors or with the person's identifiers,
  the contact, the contacts merged into it, their merge records and the blind indexes of
  their fields (``contact_field_index``) are deleted;
* rejected request bodies of the site that contain the person's e-mail or phone are deleted;
* the steps of the packages above identity that keep something of the person (``also``:
  the trigger engine's episodes, messages and unsubscribes, ``triggers/erasure.py``) run in
  the same transaction, so an erasure is all or nothing;
* one audit entry records that an erasure happened, with counts and the (now meaningless)
  contact id: never a name, e-mail or phone.

A contact whose profile cannot be decrypted (its key is lost) is erased all the same, by id:
the row, merges, visitor links, events and pending identities (by the contact's stored blind
indexes) need no plaintext. Only the search of rejected bodies needs the e-mail and phone; the
report's ``not_matched`` says what could not be searched, and why.

Caveats: a contact merged away keeps no e-mail of its own (``resolve``), so events identified
only by such a dropped e-mail and never linked are out of reach; the database's own free pages
and WAL may hold old bytes until reused or vacuumed, and backups keep what they kept.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, bindparam, delete, or_, select, update

from shoptrack.errors import KeyMissing, NotFound
from shoptrack.identity.crypto import PURPOSE_REJECTED_BODY, KeyMaterialError, Keyring
from shoptrack.identity.field_index import forget_fields
from shoptrack.identity.store import (
    BIDX_COLUMNS,
    lock_site,
    merged_ids,
    record_from_row,
    resolve_contact_row,
    visitors_of,
    write_audit,
)
from shoptrack.store.sql import chunks
from shoptrack.store.tables import (
    contact_merges,
    contact_visitors,
    contacts,
    events,
    pending_identities,
    rejected_events,
)

# A step of a package above identity: given the connection of the erasure's transaction, the
# site, the contact's ids (the live one first, then those merged into it) and its visitors'
# ids, it forgets what it holds of the person and returns counts by name for the report.
ErasureStep = Callable[[Connection, str, list[str], list[str]], dict[str, int]]


@dataclass(slots=True)
class ErasureReport:
    contact_id: str
    audit_id: str
    visitors: int
    events: int
    pending: int
    rejected: int
    merged_contacts: int
    # Rows of ``contact_field_index`` (the blind indexes of the city and custom fields).
    field_indexes: int = 0
    # What could not be searched for the person (e.g. their profile's key is lost).
    not_matched: list[str] = field(default_factory=list)
    # Counts reported by the ``also`` steps (e.g. ``trigger_messages_anonymised``).
    elsewhere: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.elsewhere,
            "erased": self.contact_id,
            "audit_id": self.audit_id,
            "visitors": self.visitors,
            "events_unlinked": self.events,
            "pending_identities_deleted": self.pending,
            "rejected_bodies_deleted": self.rejected,
            "merged_contacts_deleted": self.merged_contacts,
            "field_indexes_deleted": self.field_indexes,
            "not_matched": self.not_matched,
        }


def erase_contact(
    engine: Engine,
    keyring: Keyring,
    site_id: str,
    contact_id: str,
    *,
    actor: str,
    catch_up: Callable[[], None] | None = None,
    also: Sequence[ErasureStep] = (),
) -> ErasureReport:
    if catch_up is not None:
        catch_up()
    with engine.begin() as conn:
        lock_site(conn, site_id)
        row = resolve_contact_row(conn, site_id, contact_id[:64])
        if row is None:
            raise NotFound(f"no contact {contact_id[:64]!r}", "id")
        cid = row.contact_id
        not_matched: list[str] = []
        try:
            identifiers = record_from_row(row, keyring).identifiers()
        except KeyMissing as exc:
            identifiers = {}
            not_matched.append(
                f"rejected bodies: the contact's e-mail and phone are unknown ({exc.message})"
            )
        former = merged_ids(conn, site_id, cid)
        all_ids = [cid, *former]
        visitor_ids = [v["visitor_id"] for v in visitors_of(conn, site_id, cid)]

        # Events: keep them, but nothing in them leads back to the person any more.
        new_ids = {v: "erased-" + secrets.token_hex(12) for v in visitor_ids}
        changed = 0
        for part in chunks(visitor_ids):
            stmt = select(events.c.seq, events.c.visitor_id, events.c.data).where(
                events.c.site_id == site_id, events.c.visitor_id.in_(part)
            )
            changed += _rewrite(conn, stmt, new_ids)
        stmt = select(events.c.seq, events.c.visitor_id, events.c.data).where(
            events.c.site_id == site_id, events.c.contact_id.in_(all_ids)
        )
        changed += _rewrite(conn, stmt, new_ids)

        # Pending identities: of their visitors, or carrying their identifiers (matched by
        # the blind indexes stored with the contact: no decryption needed).
        conditions = [
            pending_identities.c[column] == getattr(row, column)
            for column in BIDX_COLUMNS.values()
            if getattr(row, column) is not None
        ]
        clauses = [or_(*conditions)] if conditions else []
        clauses += [pending_identities.c.visitor_id.in_(part) for part in chunks(visitor_ids)]
        pending = 0
        for clause in clauses:
            pending += conn.execute(
                delete(pending_identities).where(pending_identities.c.site_id == site_id, clause)
            ).rowcount

        conn.execute(
            delete(contact_visitors).where(
                contact_visitors.c.site_id == site_id, contact_visitors.c.contact_id.in_(all_ids)
            )
        )
        conn.execute(
            delete(contact_merges).where(
                contact_merges.c.site_id == site_id,
                or_(
                    contact_merges.c.survivor_id.in_(all_ids),
                    contact_merges.c.merged_id.in_(all_ids),
                ),
            )
        )
        conn.execute(
            delete(contacts).where(
                contacts.c.site_id == site_id, contacts.c.contact_id.in_(all_ids)
            )
        )
        fields = forget_fields(conn, site_id, all_ids)
        elsewhere: dict[str, int] = {}
        for step in also:
            elsewhere.update(step(conn, site_id, all_ids, visitor_ids))
        rejected, unsearched = _delete_rejected(conn, keyring, site_id, identifiers)
        if unsearched:
            not_matched.append(
                f"rejected bodies: {unsearched} of the site's could not be decrypted and "
                "were not searched"
            )
        report = ErasureReport(
            contact_id=cid,
            audit_id="",
            visitors=len(visitor_ids),
            events=changed,
            pending=pending,
            rejected=rejected,
            merged_contacts=len(former),
            field_indexes=fields,
            not_matched=not_matched,
            elsewhere=elsewhere,
        )
        details = report.to_json()
        details.pop("audit_id")
        report.audit_id = write_audit(conn, site_id, "contact.erase", cid, actor, details)
    return report


def _rewrite(conn: Any, stmt: Any, new_ids: dict[str, str]) -> int:
    updates: list[dict[str, Any]] = []
    for row in conn.execute(stmt).all():
        visitor = new_ids.get(row.visitor_id) if row.visitor_id is not None else None
        if visitor is None and row.visitor_id is not None:
            visitor = new_ids.setdefault(row.visitor_id, "erased-" + secrets.token_hex(12))
        data = orjson.loads(row.data)
        data.update(visitor_id=visitor, contact_id=None, identified=False, ip=None)
        updates.append(
            {"b_seq": row.seq, "visitor_id": visitor, "data": orjson.dumps(data).decode()}
        )
    if updates:
        conn.execute(
            update(events)
            .where(events.c.seq == bindparam("b_seq"))
            .values(
                visitor_id=bindparam("visitor_id"),
                data=bindparam("data"),
                contact_id=None,
                identity_enc=None,
            ),
            updates,
        )
    return len(updates)


def _delete_rejected(
    conn: Any, keyring: Keyring, site_id: str, identifiers: dict[str, str]
) -> tuple[int, int]:
    """Rejected bodies are kept whole (encrypted); drop those that name the person.

    Returns (deleted, bodies that could not be decrypted and so not searched).
    """
    needles = []
    if "email" in identifiers:
        needles.append(identifiers["email"].encode())
    if "phone" in identifiers:
        needles += [identifiers["phone"].encode(), identifiers["phone"].lstrip("+").encode()]
    if not needles:
        return 0, 0
    doomed: list[int] = []
    unsearched = 0
    last = 0
    while True:
        stmt = (
            select(rejected_events.c.seq, rejected_events.c.body_enc)
            .where(rejected_events.c.site_id == site_id, rejected_events.c.seq > last)
            .order_by(rejected_events.c.seq)
            .limit(1000)
        )
        rows = conn.execute(stmt).all()
        if not rows:
            break
        for row in rows:
            last = row.seq
            try:
                body = keyring.decrypt(row.body_enc, PURPOSE_REJECTED_BODY).lower()
            except KeyMaterialError:
                unsearched += 1
                continue
            if any(needle in body for needle in needles):
                doomed.append(row.seq)
    for part in chunks(doomed):
        conn.execute(delete(rejected_events).where(rejected_events.c.seq.in_(part)))
    return len(doomed), unsearched
