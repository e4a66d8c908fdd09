"""Erasure: personal data gone, events kept but unlinkable, audited without personal data."""

from __future__ import annotations

import orjson
from sqlalchemy import Engine, func, select, text

from shoptrack.identity.crypto import PURPOSE_REJECTED_BODY, Keyring
from shoptrack.identity.services import IdentityServices
from shoptrack.processing.runner import ProcessorRunner
from shoptrack.store.events_repo import EventLog
from shoptrack.store.rows import RejectedRow
from shoptrack.store.tables import (
    audit_log,
    contact_merges,
    contact_visitors,
    contacts,
    events,
    pending_identities,
    rejected_events,
)
from tests.support.identity import event_row


def _rejected(keyring: Keyring, site_id: str, body: dict[str, object]) -> RejectedRow:
    raw = orjson.dumps(body)
    return RejectedRow(
        site_id,
        None,
        1,
        "browser",
        "webevent",
        "invalid_value",
        "bad",
        None,
        len(raw),
        keyring.encrypt(raw, PURPOSE_REJECTED_BODY),
    )


def test_erasure_unlinks_events_and_deletes_personal_data(
    engine: Engine,
    identity: IdentityServices,
    event_log: EventLog,
    keyring: Keyring,
    site_id: str,
    runner: ProcessorRunner,
) -> None:
    result = identity.contacts.upsert_many(
        site_id, [{"email": "gone@example.com", "phone": "+16502530003", "firstName": "Gone"}]
    )
    cid = result.contacts[0]["id"]
    other = identity.contacts.upsert_many(site_id, [{"externalCustomerId": "O-1"}])
    # A second contact with the same person's external id merges into the first.
    merged = identity.contacts.upsert_many(site_id, [{"externalCustomerId": "G-1"}])
    identity.contacts.upsert_many(
        site_id, [{"externalCustomerId": "G-1", "email": "gone@example.com"}]
    )
    event_log.append(
        [
            event_row(keyring, site_id, "dev-1"),
            event_row(
                keyring, site_id, "dev-1", "CustomerData", {"user_email": "gone@example.com"}
            ),
            event_row(keyring, site_id, "dev-2", "CustomerData", {"user_phone": "+16502530003"}),
            event_row(keyring, site_id, "stranger", "CustomerData", {"externalCustomerId": "O-1"}),
        ],
        [
            _rejected(keyring, site_id, {"user_email": "GONE@example.com", "x": 1}),
            _rejected(keyring, site_id, {"user_email": "kept@example.com"}),
        ],
    )
    runner.drain()
    with engine.begin() as conn:
        conn.execute(
            pending_identities.insert().values(
                site_id=site_id,
                pending_id="pi_test",
                visitor_id="dev-2",
                identity_enc=keyring.encrypt(b"{}", b"pending-identity"),
                first_seen_at=1,
                last_seen_at=1,
            )
        )

    report = identity.erase(site_id, cid, actor="test", catch_up=runner.drain)
    assert report.visitors == 2 and report.events == 3 and report.rejected == 1
    assert report.merged_contacts == 1 and report.pending == 1

    with engine.connect() as conn:
        ids = set(conn.execute(select(contacts.c.contact_id)).scalars())
        assert cid not in ids and merged.contacts[0]["id"] not in ids
        assert other.contacts[0]["id"] in ids
        assert conn.execute(select(func.count()).select_from(contact_merges)).scalar_one() == 0
        assert set(conn.execute(select(contact_visitors.c.visitor_id)).scalars()) == {"stranger"}
        assert conn.execute(select(func.count()).select_from(pending_identities)).scalar() == 0
        rows = conn.execute(select(events).order_by(events.c.seq)).all()
        assert len(rows) == 4  # events are kept
        erased = [r for r in rows if r.visitor_id != "stranger"]
        assert all(r.identity_enc is None for r in erased)
        assert all(r.visitor_id.startswith("erased-") for r in erased)
        assert erased[0].visitor_id == erased[1].visitor_id != erased[2].visitor_id
        for row in erased:
            data = orjson.loads(row.data)
            assert data["visitor_id"] == row.visitor_id and data["ip"] is None
            assert data["identified"] is False
        assert rows[-1].identity_enc is not None  # someone else's identity is untouched
        assert conn.execute(select(func.count()).select_from(rejected_events)).scalar() == 1
        audit = conn.execute(select(audit_log)).one()
    assert (audit.action, audit.subject, audit.actor) == ("contact.erase", cid, "test")
    audit_text = f"{audit.details} {audit.subject} {audit.actor}".lower()
    assert "gone" not in audit_text and "16502530003" not in audit_text
    assert identity.contacts.lookup(site_id, "email", "gone@example.com") == []
    # Reprocessing cannot bring it back: nothing identifies those events any more.
    with engine.begin() as conn:
        conn.execute(text("UPDATE processor_cursors SET position = 0"))
    runner.drain()
    assert identity.contacts.lookup(site_id, "email", "gone@example.com") == []
    assert identity.contacts.lookup(site_id, "phone", "+16502530003") == []


def test_erasure_catches_up_with_unprocessed_events_first(
    identity: IdentityServices,
    event_log: EventLog,
    keyring: Keyring,
    site_id: str,
    runner: ProcessorRunner,
) -> None:
    result = identity.contacts.upsert_many(site_id, [{"email": "late@example.com"}])
    event_log.append(
        [
            event_row(
                keyring, site_id, "dev-late", "CustomerData", {"user_email": "late@example.com"}
            )
        ],
        [],
    )
    # No drain: the processor has not seen the event when the erasure arrives.
    report = identity.erase(site_id, result.contacts[0]["id"], actor="test", catch_up=runner.drain)
    assert report.events == 1
    runner.drain()
    assert identity.contacts.lookup(site_id, "email", "late@example.com") == []
