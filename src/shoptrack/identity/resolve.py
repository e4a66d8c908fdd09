"""Matching and merging contacts: one site's contacts held in memory for one transaction.

Matching takes ``externalCustomerId`` first, then the normalized e-mail, then the normalized
phone, then (events only) a contact id the page remembered. When one incoming record matches
several contacts, they are the same person and merge: the oldest contact (creation time, then
id) survives, takes the fields it lacks from the others, gets their visitors, and the others
stay as rows without personal data pointing at it; each merge is recorded. Two contacts that
both have an ``externalCustomerId``, and they differ, are never merged: the shop says they are
different customers. An API row that would need such a merge is refused, naming the field; an
event links its visitor to the first match and leaves the contacts as they are.

The API is authoritative (its values overwrite); an event only fills what a contact lacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update

from shoptrack.errors import Reason, ShoptrackError
from shoptrack.identity.crypto import INDEX_KINDS, PURPOSE_PENDING_IDENTITY, Keyring
from shoptrack.identity.field_index import write_fields
from shoptrack.identity.normalize import ContactPatch
from shoptrack.identity.store import (
    BIDX_COLUMNS,
    ContactRecord,
    contact_values,
    load_by_index,
    move_links,
    new_contact_id,
    record_merge,
    resolve_contact,
    upsert_links,
)
from shoptrack.store.sql import chunks, now_ms
from shoptrack.store.tables import contacts, pending_identities


@dataclass(slots=True)
class Outcome:
    contact: ContactRecord
    created: bool
    merged: int


class WorkingSet:
    """The contacts one transaction touches, indexed by their identifiers."""

    def __init__(self, conn: Connection, keyring: Keyring, site_id: str) -> None:
        self.conn = conn
        self.keyring = keyring
        self.site_id = site_id
        self.now = now_ms()
        self.records: dict[str, ContactRecord] = {}
        self.index: dict[str, dict[str, str]] = {kind: {} for kind in INDEX_KINDS}
        self.queried: set[tuple[str, str]] = set()
        self.merges: list[tuple[str, str, str, str]] = []
        self.links: dict[str, tuple[str, int | None]] = {}
        self.pending: dict[str, dict[str, Any]] = {}
        self.merge_count = 0
        self._bidx_cache: dict[tuple[str, str], str] = {}

    # --- loading --------------------------------------------------------------------
    def _bidx(self, kind: str, value: str) -> str:
        key = (kind, value)
        found = self._bidx_cache.get(key)
        if found is None:
            found = self.keyring.contact_index(self.site_id, kind, value)
            self._bidx_cache[key] = found
        return found

    def ensure_loaded(self, patches: list[ContactPatch]) -> None:
        """Load every stored contact any of these patches could match (one query per kind)."""
        wanted: dict[str, set[str]] = {}
        for patch in patches:
            for kind, value in patch.identifiers().items():
                if (kind, value) not in self.queried:
                    self.queried.add((kind, value))
                    wanted.setdefault(kind, set()).add(self._bidx(kind, value))
            if patch.contact_ref and ("ref", patch.contact_ref) not in self.queried:
                self.queried.add(("ref", patch.contact_ref))
                found = resolve_contact(self.conn, self.keyring, self.site_id, patch.contact_ref)
                if found is not None:
                    self._add(found)
        if wanted:
            for record in load_by_index(self.conn, self.keyring, self.site_id, wanted):
                self._add(record)

    def _add(self, record: ContactRecord) -> None:
        if record.contact_id in self.records or record.merged_into is not None:
            return
        self.records[record.contact_id] = record
        self._index(record)

    def _index(self, record: ContactRecord) -> None:
        for kind, value in record.identifiers().items():
            self.index[kind][value] = record.contact_id

    def _unindex(self, record: ContactRecord) -> None:
        for kind, value in record.identifiers().items():
            if self.index[kind].get(value) == record.contact_id:
                del self.index[kind][value]

    def live(self, contact_id: str) -> ContactRecord:
        record = self.records[contact_id]
        while record.merged_into is not None:
            record = self.records[record.merged_into]
        return record

    # --- matching -------------------------------------------------------------------
    def _matches(self, patch: ContactPatch) -> list[tuple[str, ContactRecord]]:
        found: list[tuple[str, ContactRecord]] = []
        for kind, value in patch.identifiers().items():
            owner = self.index[kind].get(value)
            if owner is not None:
                found.append((kind, self.records[owner]))
        if patch.contact_ref and patch.contact_ref in self.records:
            found.append(("contactId", self.live(patch.contact_ref)))
        distinct: list[tuple[str, ContactRecord]] = []
        for kind, record in found:
            if all(record is not other for _, other in distinct):
                distinct.append((kind, record))
        return distinct

    def upsert(self, patch: ContactPatch, *, source: str, authoritative: bool) -> Outcome | None:
        """Apply one patch; refuses (API) or narrows (events) what would merge different ids.

        Returns None for an event whose identity matches no contact (the caller decides
        between a new contact and a pending identity).
        """
        self.ensure_loaded([patch])
        matches = self._matches(patch)
        if not matches:
            if not authoritative:
                return None
            return Outcome(self.create(patch, source), True, 0)
        primary_kind, primary = matches[0]
        ext = patch.values.get("externalCustomerId")
        group = [primary]
        if ext and primary.profile.get("externalCustomerId") not in (None, ext):
            if authoritative:
                raise _conflict(primary_kind)
            patch = _without(patch, "externalCustomerId")
            ext = None
        known_ext = ext or primary.profile.get("externalCustomerId")
        for kind, other in matches[1:]:
            other_ext = other.profile.get("externalCustomerId")
            if known_ext and other_ext and other_ext != known_ext:
                if authoritative:
                    raise _conflict(kind)
                patch = _without(patch, kind)
                continue
            known_ext = known_ext or other_ext
            group.append(other)
        survivor = min(group, key=ContactRecord.age_key)
        merged = 0
        for kind, other in matches:
            if other is not survivor and any(other is member for member in group):
                self._merge(survivor, other, kind, source)
                merged += 1
        self._apply(survivor, patch, authoritative)
        return Outcome(survivor, False, merged)

    def create(self, patch: ContactPatch, source: str) -> ContactRecord:
        record = ContactRecord(
            site_id=self.site_id,
            contact_id=new_contact_id(),
            created_at=self.now,
            updated_at=self.now,
            source=source,
            is_new=True,
            dirty=True,
        )
        self.records[record.contact_id] = record
        self._apply(record, patch, True)
        return record

    def _merge(self, survivor: ContactRecord, loser: ContactRecord, kind: str, source: str) -> None:
        self._unindex(survivor)
        self._unindex(loser)
        _fill(survivor.profile, loser.profile)
        loser.profile = {}
        loser.merged_into = survivor.contact_id
        loser.updated_at = survivor.updated_at = self.now
        loser.dirty = survivor.dirty = True
        self._index(survivor)
        self.merges.append((survivor.contact_id, loser.contact_id, kind, source))
        self.merge_count += 1

    def _apply(self, record: ContactRecord, patch: ContactPatch, authoritative: bool) -> None:
        before = dict(record.profile)
        self._unindex(record)
        profile = record.profile
        for key, value in patch.values.items():
            if key in INDEX_KINDS and value is not None:
                owner = self.index[key].get(value)
                if owner is not None and owner != record.contact_id:
                    continue  # owned by a contact we must not merge with (events only)
            if authoritative:
                if value is None:
                    profile.pop(key, None)
                else:
                    profile[key] = value
            elif value is not None and key not in profile:
                profile[key] = value
        if patch.fields:
            current = dict(profile.get("fields") or {})
            for name, value in patch.fields.items():
                if authoritative:
                    if value is None:
                        current.pop(name, None)
                    else:
                        current[name] = value
                elif value is not None and name not in current:
                    current[name] = value
            if current:
                profile["fields"] = current
            else:
                profile.pop("fields", None)
        self._index(record)
        if profile != before:
            record.updated_at = self.now
            record.dirty = True

    # --- visitors and pending identities -------------------------------------------------
    def link(self, visitor_id: str, contact_id: str, seq: int | None) -> None:
        self.links[visitor_id] = (contact_id, seq)

    def add_pending(self, visitor_id: str, patch: ContactPatch) -> None:
        """Keep an unmatched identity (encrypted) until a contact with it is created."""
        identifiers = patch.identifiers()
        if not identifiers:
            return
        kind, value = next(iter(identifiers.items()))
        key = f"{self.site_id}\x00{visitor_id}\x00{kind}\x00{value}"
        pending_id = "pi_" + self.keyring.blind_index(key, "pending-identity")[:40]
        entry = self.pending.get(pending_id)
        if entry is None:
            stmt = select(pending_identities).where(
                pending_identities.c.site_id == self.site_id,
                pending_identities.c.pending_id == pending_id,
            )
            row = self.conn.execute(stmt).first()
            profile: dict[str, Any] = {}
            if row is not None:
                profile = self.keyring.decrypt_json(row.identity_enc, PURPOSE_PENDING_IDENTITY)
            entry = {"visitor_id": visitor_id, "profile": profile, "exists": row is not None}
            self.pending[pending_id] = entry
        profile = entry["profile"]
        for key_name, item in patch.values.items():
            if item is not None:
                profile[key_name] = item
        if patch.fields:
            profile["fields"] = {**profile.get("fields", {}), **patch.fields}

    def _claim_pending(self) -> None:
        """Pending identities that match a contact written here: link, fill, remove."""
        wanted: dict[str, dict[str, ContactRecord]] = {kind: {} for kind in INDEX_KINDS}
        for record in self.records.values():
            if record.dirty and record.merged_into is None:
                for kind, value in record.identifiers().items():
                    wanted[kind][self._bidx(kind, value)] = record
        claimed: list[str] = []
        for kind, by_bidx in wanted.items():
            column = pending_identities.c[BIDX_COLUMNS[kind]]
            for part in chunks(sorted(by_bidx)):
                stmt = select(pending_identities).where(
                    pending_identities.c.site_id == self.site_id, column.in_(part)
                )
                for row in self.conn.execute(stmt):
                    if row.pending_id in claimed:
                        continue
                    record = by_bidx[getattr(row, BIDX_COLUMNS[kind])]
                    profile = self.keyring.decrypt_json(row.identity_enc, PURPOSE_PENDING_IDENTITY)
                    extras = {k: v for k, v in profile.items() if k not in INDEX_KINDS}
                    _fill(record.profile, extras)
                    self.links.setdefault(row.visitor_id, (record.contact_id, None))
                    claimed.append(row.pending_id)
        for part in chunks(claimed):
            self.conn.execute(
                delete(pending_identities).where(
                    pending_identities.c.site_id == self.site_id,
                    pending_identities.c.pending_id.in_(part),
                )
            )

    # --- writing ----------------------------------------------------------------------
    def flush(self) -> None:
        """Write every change of this working set (inside the caller's transaction)."""
        self._claim_pending()
        changed = [r for r in self.records.values() if r.dirty]
        existing = [r for r in changed if not r.is_new]
        # Identifiers can move between contacts (merges): free them all before setting any,
        # so no unique index sees two owners mid-way.
        bidx = {r.contact_id: r.bidx(self._bidx) for r in changed}
        moving = [r.contact_id for r in existing if r.stored_bidx != bidx[r.contact_id]]
        for part in chunks(moving):
            self.conn.execute(
                update(contacts)
                .where(contacts.c.site_id == self.site_id, contacts.c.contact_id.in_(part))
                .values(external_bidx=None, email_bidx=None, phone_bidx=None)
            )
        if existing:
            stmt = update(contacts).where(
                contacts.c.site_id == bindparam("b_site"),
                contacts.c.contact_id == bindparam("b_id"),
            )
            params = [
                {
                    "b_site": r.site_id,
                    "b_id": r.contact_id,
                    **contact_values(r, self.keyring, bidx[r.contact_id]),
                }
                for r in existing
            ]
            self.conn.execute(stmt, params)
        new = [r for r in changed if r.is_new]
        if new:
            rows = [
                {
                    "site_id": r.site_id,
                    "contact_id": r.contact_id,
                    "created_at": r.created_at,
                    **contact_values(r, self.keyring, bidx[r.contact_id]),
                }
                for r in new
            ]
            self.conn.execute(contacts.insert(), rows)
        # The fields' blind indexes follow the profiles (a merged-away contact loses its own).
        write_fields(self.conn, self.keyring, self.site_id, changed)
        for survivor, loser, kind, source in self.merges:
            move_links(self.conn, self.site_id, loser, survivor)
            record_merge(self.conn, self.site_id, survivor, loser, kind, source)
        self._write_pending()
        links = [
            {
                "site_id": self.site_id,
                "visitor_id": visitor,
                "contact_id": self.live(contact_id).contact_id,
                "linked_at": self.now,
                "last_seq": seq,
            }
            for visitor, (contact_id, seq) in self.links.items()
        ]
        upsert_links(self.conn, links)
        for record in changed:
            record.stored_bidx = bidx[record.contact_id]
            record.dirty = record.is_new = False
        self.merges.clear()
        self.links.clear()
        self.pending.clear()

    def _write_pending(self) -> None:
        for pending_id, entry in self.pending.items():
            profile = entry["profile"]
            bidx = {
                BIDX_COLUMNS[kind]: self._bidx(kind, profile[kind]) if profile.get(kind) else None
                for kind in INDEX_KINDS
            }
            values = {
                **bidx,
                "identity_enc": self.keyring.encrypt_json(profile, PURPOSE_PENDING_IDENTITY),
                "last_seen_at": self.now,
            }
            if entry["exists"]:
                self.conn.execute(
                    update(pending_identities)
                    .where(
                        pending_identities.c.site_id == self.site_id,
                        pending_identities.c.pending_id == pending_id,
                    )
                    .values(**values)
                )
            else:
                self.conn.execute(
                    pending_identities.insert().values(
                        site_id=self.site_id,
                        pending_id=pending_id,
                        visitor_id=entry["visitor_id"],
                        first_seen_at=self.now,
                        **values,
                    )
                )


def _fill(target: dict[str, Any], source: dict[str, Any]) -> None:
    """Copy what ``target`` lacks from ``source`` (custom fields one by one)."""
    for key, value in source.items():
        if key == "fields" and isinstance(value, dict):
            fields = dict(target.get("fields") or {})
            for name, item in value.items():
                fields.setdefault(name, item)
            if fields:
                target["fields"] = fields
        elif key not in target and value is not None:
            target[key] = value


def _without(patch: ContactPatch, kind: str) -> ContactPatch:
    values = {k: v for k, v in patch.values.items() if k != kind}
    ref = None if kind == "contactId" else patch.contact_ref
    return ContactPatch(values, dict(patch.fields), ref)


def _conflict(kind: str) -> ShoptrackError:
    field_name = kind if kind != "contactId" else "externalCustomerId"
    return ShoptrackError(
        Reason.INVALID_VALUE,
        f"{field_name}: belongs to another contact with a different externalCustomerId",
        field_name,
    )
