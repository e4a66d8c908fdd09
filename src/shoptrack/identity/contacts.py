"""Contacts as the API sees them: bulk upsert, lookup, listing, visitors, history and export."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, select

from shoptrack.errors import KeyMissing, LimitExceeded, NotFound, Reason, ShoptrackError
from shoptrack.events.model import iso_ms
from shoptrack.identity.crypto import (
    PURPOSE_EVENT_IDENTITY,
    PURPOSE_PENDING_IDENTITY,
    Keyring,
)
from shoptrack.identity.normalize import (
    normalize_email,
    normalize_external_id,
    normalize_phone,
    patch_from_api,
)
from shoptrack.identity.resolve import WorkingSet
from shoptrack.identity.store import (
    BIDX_COLUMNS,
    ContactRecord,
    decrypt_or_explain,
    load_by_index,
    lock_site,
    merged_ids,
    merges_of,
    record_from_row,
    resolve_contact,
    visitors_of,
)
from shoptrack.store.site_settings import read_settings
from shoptrack.store.sql import chunks
from shoptrack.store.tables import audit_log, contact_visitors, contacts, events, pending_identities

# The API's field order in answers.
_PROFILE_FIELDS = ("externalCustomerId", "email", "phone", "firstName", "lastName", "city")
# The identifiers a contact is looked up by (each has a blind index).
LOOKUP_KINDS = ("externalCustomerId", "email", "phone")


def one_identifier(given: dict[str, str | None]) -> tuple[str, str] | None:
    """The one identifier of a lookup request (kind, value); None when none is given."""
    present = [(kind, value) for kind, value in given.items() if value]
    if len(present) > 1:
        names = " and ".join(kind for kind, _ in present)
        raise ShoptrackError(
            Reason.INVALID_VALUE,
            f"give one of {', '.join(LOOKUP_KINDS)}, not {names}",
            present[1][0],
        )
    return present[0] if present else None


@dataclass(slots=True)
class BulkResult:
    contacts: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    merged: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "stored": len(self.contacts),
            "created": self.created,
            "updated": self.updated,
            "merged": self.merged,
            "contacts": self.contacts,
            "failed": self.failed,
        }


def contact_json(record: ContactRecord, visitors: list[dict[str, Any]] | None) -> dict[str, Any]:
    profile = record.profile
    out: dict[str, Any] = {"id": record.contact_id}
    for name in _PROFILE_FIELDS:
        out[name] = profile.get(name)
    out["fields"] = profile.get("fields") or {}
    out["source"] = record.source
    out["created_at"] = iso_ms(record.created_at)
    out["updated_at"] = iso_ms(record.updated_at)
    if visitors is not None:
        out["visitors"] = [
            {"visitor_id": v["visitor_id"], "linked_at": iso_ms(v["linked_at"])} for v in visitors
        ]
    return out


def site_region(conn: Connection, site_id: str) -> str | None:
    region = read_settings(conn, site_id).get("default_region")
    return region if isinstance(region, str) else None


class ContactService:
    def __init__(self, engine: Engine, keyring: Keyring) -> None:
        self.engine = engine
        self.keyring = keyring

    # --- writing ----------------------------------------------------------------------
    def upsert_many(self, site_id: str, rows: list[Any]) -> BulkResult:
        """Store the good rows, list the failed ones with their reason (one transaction)."""
        result = BulkResult()
        with self.engine.begin() as conn:
            lock_site(conn, site_id)
            region = site_region(conn, site_id)
            patches = []
            for index, row in enumerate(rows):
                try:
                    patches.append((index, patch_from_api(row, region)))
                except ShoptrackError as error:
                    result.failed.append({"index": index, "error": error.to_dict()})
            work = WorkingSet(conn, self.keyring, site_id)
            work.ensure_loaded([patch for _, patch in patches])
            done: list[tuple[int, str, bool]] = []
            for index, patch in patches:
                try:
                    outcome = work.upsert(patch, source="api", authoritative=True)
                except ShoptrackError as error:
                    result.failed.append({"index": index, "error": error.to_dict()})
                    continue
                assert outcome is not None
                done.append((index, outcome.contact.contact_id, outcome.created))
                result.merged += outcome.merged
            work.flush()
        for index, contact_id, created in done:
            final = work.live(contact_id).contact_id
            result.contacts.append({"index": index, "id": final, "created": created})
            if created:
                result.created += 1
            else:
                result.updated += 1
        result.failed.sort(key=lambda item: int(item["index"]))
        return result

    # --- reading ----------------------------------------------------------------------
    def get(self, site_id: str, contact_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            record = self._require(conn, site_id, contact_id)
            visitors = visitors_of(conn, site_id, record.contact_id)
        return contact_json(record, visitors)

    def _require(self, conn: Connection, site_id: str, contact_id: str) -> ContactRecord:
        record = resolve_contact(conn, self.keyring, site_id, contact_id[:64])
        if record is None:
            raise NotFound(f"no contact {contact_id[:64]!r}", "id")
        return record

    def _blind_index(self, conn: Connection, site_id: str, kind: str, value: str) -> str:
        if kind == "email":
            normalized = normalize_email(value)
        elif kind == "phone":
            normalized = normalize_phone(value, site_region(conn, site_id))
        else:
            normalized = normalize_external_id(value)
        return self.keyring.contact_index(site_id, kind, normalized)

    def lookup(self, site_id: str, kind: str, value: str) -> list[dict[str, Any]]:
        """Contacts (zero or one) with this identifier, found through its blind index."""
        with self.engine.connect() as conn:
            bidx = self._blind_index(conn, site_id, kind, value)
            found = load_by_index(conn, self.keyring, site_id, {kind: {bidx}})
            return [
                contact_json(r, visitors_of(conn, site_id, r.contact_id))
                for r in found
                if r.merged_into is None
            ]

    def find_id(self, site_id: str, kind: str, value: str) -> str:
        """The id of the live contact with this identifier (nothing decrypted); 404 if none."""
        with self.engine.connect() as conn:
            bidx = self._blind_index(conn, site_id, kind, value)
            column = contacts.c[BIDX_COLUMNS[kind]]
            found = conn.execute(
                select(contacts.c.contact_id).where(
                    contacts.c.site_id == site_id,
                    column == bidx,
                    contacts.c.merged_into.is_(None),
                )
            ).scalar()
        if found is None:
            raise NotFound(f"no contact with this {kind}", kind)
        return str(found)

    def page(
        self, site_id: str, limit: int, after: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the site's live contacts by id, and the cursor of the next page.

        Ids never change, so paging by id is stable while contacts are added or merged. Only
        the page's own rows are read and decrypted.
        """
        c = contacts.c
        stmt = select(contacts).where(c.site_id == site_id, c.merged_into.is_(None))
        if after:
            stmt = stmt.where(c.contact_id > after[:64])
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.order_by(c.contact_id).limit(limit + 1)).all()
            more = len(rows) > limit
            records = [record_from_row(row, self.keyring) for row in rows[:limit]]
            visitors = _visitors_of_many(conn, site_id, [r.contact_id for r in records])
        page = [contact_json(r, visitors.get(r.contact_id, [])) for r in records]
        return page, (records[-1].contact_id if more else None)

    def profiles(self, site_id: str, contact_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The decrypted profiles of those of these ids that are live contacts now (one query
        per thousand ids); an erased or merged-away id is absent. A profile whose key is lost
        is given as ``{}``."""
        c = contacts.c
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for part in chunks(contact_ids, 1000):
                stmt = select(contacts).where(
                    c.site_id == site_id, c.contact_id.in_(part), c.merged_into.is_(None)
                )
                for row in conn.execute(stmt):
                    try:
                        record = record_from_row(row, self.keyring)
                    except KeyMissing:
                        out[row.contact_id] = {}
                        continue
                    out[row.contact_id] = contact_json(record, None)
        return out

    def history(
        self, site_id: str, contact_id: str, limit: int = 100, before: int | None = None
    ) -> tuple[str, list[tuple[int, str]]]:
        """(contact id, [(seq, canonical JSON)]) newest first: every event of its visitors,
        including those sent before the visitor was identified."""
        with self.engine.connect() as conn:
            record = self._require(conn, site_id, contact_id)
            visitors = [v["visitor_id"] for v in visitors_of(conn, site_id, record.contact_id)]
            rows: list[tuple[int, str]] = []
            for part in chunks(visitors):
                stmt = select(events.c.seq, events.c.data).where(
                    events.c.site_id == site_id, events.c.visitor_id.in_(part)
                )
                if before is not None:
                    stmt = stmt.where(events.c.seq < before)
                stmt = stmt.order_by(events.c.seq.desc()).limit(limit)
                rows.extend((int(r.seq), str(r.data)) for r in conn.execute(stmt))
        rows.sort(reverse=True)
        return record.contact_id, rows[:limit]

    def export(self, site_id: str, contact_id: str) -> dict[str, Any]:
        """Everything held about the person (data access request), decrypted."""
        with self.engine.connect() as conn:
            record = self._require(conn, site_id, contact_id)
            cid = record.contact_id
            visitors = visitors_of(conn, site_id, cid)
            visitor_ids = [v["visitor_id"] for v in visitors]
            out_events: list[dict[str, Any]] = []
            pending: list[dict[str, Any]] = []
            for part in chunks(visitor_ids):
                stmt = (
                    select(events.c.seq, events.c.data, events.c.identity_enc)
                    .where(events.c.site_id == site_id, events.c.visitor_id.in_(part))
                    .order_by(events.c.seq)
                )
                for row in conn.execute(stmt):
                    event = orjson.loads(row.data)
                    if row.identity_enc is not None:
                        event["identity"] = decrypt_or_explain(
                            self.keyring,
                            row.identity_enc,
                            PURPOSE_EVENT_IDENTITY,
                            f"the identity of event {event.get('id')}",
                        )
                    out_events.append(event)
                stmt = select(pending_identities).where(
                    pending_identities.c.site_id == site_id,
                    pending_identities.c.visitor_id.in_(part),
                )
                for row in conn.execute(stmt):
                    pending.append(
                        {
                            "visitor_id": row.visitor_id,
                            "first_seen_at": iso_ms(row.first_seen_at),
                            "last_seen_at": iso_ms(row.last_seen_at),
                            "identity": decrypt_or_explain(
                                self.keyring,
                                row.identity_enc,
                                PURPOSE_PENDING_IDENTITY,
                                f"a pending identity of visitor {row.visitor_id}",
                            ),
                        }
                    )
            merges = [
                {
                    "survivor_id": m["survivor_id"],
                    "merged_id": m["merged_id"],
                    "matched_on": m["matched_on"],
                    "source": m["source"],
                    "merged_at": iso_ms(m["merged_at"]),
                }
                for m in merges_of(conn, site_id, cid)
            ]
            former_ids = merged_ids(conn, site_id, cid)
            audit = [
                {"action": r.action, "at": iso_ms(r.at), "actor": r.actor}
                for r in conn.execute(
                    select(audit_log).where(
                        audit_log.c.site_id == site_id, audit_log.c.subject == cid
                    )
                )
            ]
        return {
            "contact": contact_json(record, visitors),
            "merged_contact_ids": former_ids,
            "merges": merges,
            "pending_identities": pending,
            "events": out_events,
            "audit": audit,
            "stored_as": {
                "profile": "AES-256-GCM, one ciphertext per contact",
                "lookup": [f"HMAC-SHA256 blind index ({c})" for c in BIDX_COLUMNS],
            },
        }


def _visitors_of_many(
    conn: Connection, site_id: str, contact_ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """The visitors of several contacts in one query, each list ordered like ``visitors_of``."""
    v = contact_visitors.c
    out: dict[str, list[dict[str, Any]]] = {}
    if not contact_ids:
        return out
    stmt = (
        select(v.contact_id, v.visitor_id, v.linked_at)
        .where(v.site_id == site_id, v.contact_id.in_(contact_ids))
        .order_by(v.linked_at, v.visitor_id)
    )
    for row in conn.execute(stmt):
        out.setdefault(row.contact_id, []).append(
            {"visitor_id": row.visitor_id, "linked_at": row.linked_at}
        )
    return out


def require_rows(body: Any, max_rows: int) -> tuple[list[Any], bool]:
    """The rows of a contacts request (one object, ``{"contacts": [...]}`` or a list)."""
    if isinstance(body, list):
        rows, bulk = body, True
    elif isinstance(body, dict) and "contacts" in body:
        rows, bulk = body["contacts"], True
        if not isinstance(rows, list):
            raise ShoptrackError(
                Reason.INVALID_BODY, "contacts must be a list of contacts", "contacts"
            )
    elif isinstance(body, dict):
        rows, bulk = [body], False
    else:
        raise ShoptrackError(Reason.INVALID_BODY, 'expected a contact or {"contacts": [...]}')
    if len(rows) > max_rows:
        raise LimitExceeded(
            Reason.TOO_MANY_EVENTS,
            f"{len(rows)} contacts in one request; the limit is {max_rows}",
            "contacts",
            413,
        )
    if bulk and not rows:
        raise ShoptrackError(Reason.MISSING_FIELD, "contacts is empty", "contacts")
    return rows, bulk
