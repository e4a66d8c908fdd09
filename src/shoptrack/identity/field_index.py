"""Blind indexes of contact fields, so segments can test them in SQL without plaintext.

One row of ``contact_field_index`` per live contact and indexed field: the city
(``city``) and custom fields (``fields.<name>``). ``value_bidx`` is the keyring's HMAC-SHA256
(the index key, as for the e-mail and phone indexes; purpose ``contact-field``) of the site,
the field and the normalised value, so the same city gives unrelated indexes in two sites and
in two fields, and nobody without the index key can test a guess. What the table reveals is
which contacts share a value of a field, and which fields a contact has.

Normalising (:func:`normalize_field_value`): Unicode NFKC, case-folded, trimmed, runs of
white space made one space; ``true``/``false`` for booleans and integers without ``.0``, so
``" PRAHA "`` matches ``"Praha"`` and ``3.0`` matches ``"3"``. Field names are normalised the
same way (events send custom fields lower-cased, the API as written).

Limits: a custom field name of at most :data:`MAX_FIELD_NAME` characters (after
normalising; longer names are not indexed), and at most :data:`MAX_INDEXED_FIELDS` custom
fields per contact (the first by name; the API accepts no more than that per request, but
events may add fields over time). Fields beyond them cannot be segment conditions.

Rows are written with the contact, inside its transaction (``resolve.WorkingSet.flush``: API
upserts, identification by events, merges: a merged-away contact loses its rows); an erasure
deletes them with the contact (``erasure.py``). Contacts written before migration 0019 get
theirs from :func:`reindex` (``shoptrack contacts reindex``). The index key is never rotated
(``crypto.py``), so key rotation leaves these rows valid.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select

from shoptrack.errors import KeyMissing
from shoptrack.identity.crypto import Keyring
from shoptrack.identity.store import ContactRecord, lock_site, record_from_row
from shoptrack.store.sql import chunks
from shoptrack.store.tables import contact_field_index, contacts

CITY = "city"
CUSTOM_PREFIX = "fields."
MAX_FIELD_NAME = 100
MAX_INDEXED_FIELDS = 100
_PURPOSE = "contact-field"


def normalize_field_value(value: Any) -> str | None:
    """The comparable text of a field value; None for no value (null, empty)."""
    if value is None:
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    text = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return text or None


def normalize_field_name(name: str) -> str | None:
    """``city`` or ``fields.<name>`` as indexed; None for a name that is not indexed."""
    if name == CITY:
        return CITY
    if not name.startswith(CUSTOM_PREFIX):
        return None
    custom = normalize_field_value(name[len(CUSTOM_PREFIX) :])
    if custom is None or len(custom) > MAX_FIELD_NAME:
        return None
    return CUSTOM_PREFIX + custom


def field_bidx(keyring: Keyring, site_id: str, field: str, normalized_value: str) -> str:
    """The index of one normalised value of one (normalised) field of a site's contacts."""
    return keyring.blind_index(f"{site_id}\x00{field}\x00{normalized_value}", _PURPOSE)


def indexed_values(profile: dict[str, Any]) -> dict[str, str]:
    """The normalised values of a profile's indexed fields, by indexed field name."""
    out: dict[str, str] = {}
    city = normalize_field_value(profile.get("city"))
    if city is not None:
        out[CITY] = city
    custom = profile.get("fields") or {}
    if isinstance(custom, dict):
        taken = 0
        for name in sorted(str(key) for key in custom):
            field = normalize_field_name(CUSTOM_PREFIX + name)
            value = normalize_field_value(custom[name])
            if field is None or value is None or field in out:
                continue
            out[field] = value
            taken += 1
            if taken >= MAX_INDEXED_FIELDS:
                break
    return out


def _rows(keyring: Keyring, record: ContactRecord) -> list[dict[str, Any]]:
    if record.merged_into is not None:
        return []
    return [
        {
            "site_id": record.site_id,
            "contact_id": record.contact_id,
            "field": field,
            "value_bidx": field_bidx(keyring, record.site_id, field, value),
        }
        for field, value in indexed_values(record.profile).items()
    ]


def forget_fields(conn: Connection, site_id: str, contact_ids: Sequence[str]) -> int:
    """Delete the index rows of these contacts (merged away, erased, or about to be rewritten)."""
    removed = 0
    i = contact_field_index.c
    for part in chunks(list(contact_ids)):
        removed += conn.execute(
            delete(contact_field_index).where(i.site_id == site_id, i.contact_id.in_(part))
        ).rowcount
    return removed


def write_fields(
    conn: Connection, keyring: Keyring, site_id: str, records: Iterable[ContactRecord]
) -> int:
    """Replace the index rows of these contacts of one site by those of their profiles now."""
    written = list(records)
    # A contact created in this transaction has no rows yet: nothing to delete.
    forget_fields(conn, site_id, [r.contact_id for r in written if not r.is_new])
    rows = [row for record in written for row in _rows(keyring, record)]
    for part in chunks(rows, 500):
        conn.execute(contact_field_index.insert(), list(part))
    return len(rows)


Progress = Callable[[str, int, int], None]


def reindex(
    engine: Engine,
    keyring: Keyring,
    site_ids: Sequence[str] | None = None,
    *,
    batch: int = 500,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Write every live contact's index rows again (contacts from before migration 0019, or
    after restoring a backup); a batch per transaction under the site's contact lock, so it
    runs beside servers that write contacts. Returns (contacts indexed, contacts skipped
    because their profile's key is lost)."""
    c = contacts.c
    with engine.connect() as conn:
        stmt = select(c.site_id, func.count()).where(c.merged_into.is_(None))
        if site_ids is not None:
            stmt = stmt.where(c.site_id.in_(list(site_ids)))
        totals = {str(s): int(n) for s, n in conn.execute(stmt.group_by(c.site_id))}
    indexed = skipped = 0
    for site_id, total in sorted(totals.items()):
        done = 0
        after = ""
        while True:
            with engine.begin() as conn:
                lock_site(conn, site_id)
                rows = conn.execute(
                    select(contacts)
                    .where(c.site_id == site_id, c.merged_into.is_(None), c.contact_id > after)
                    .order_by(c.contact_id)
                    .limit(batch)
                ).all()
                if not rows:
                    break
                records = []
                for row in rows:
                    try:
                        records.append(record_from_row(row, keyring))
                    except KeyMissing:
                        skipped += 1
                write_fields(conn, keyring, site_id, records)
            after = rows[-1].contact_id
            done += len(rows)
            indexed += len(records)
            if progress is not None:
                progress(site_id, min(done, total), max(total, done))
        if progress is not None:
            progress(site_id, done, max(total, done))
    return indexed, skipped
