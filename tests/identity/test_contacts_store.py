"""The identity tables on SQLite and PostgreSQL: upsert, matching, linking, pending, merges,
the processor cursor. Real databases, no mocks."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from shoptrack.errors import ShoptrackError
from shoptrack.identity.crypto import Keyring
from shoptrack.identity.services import IdentityServices
from shoptrack.processing.runner import ProcessorRunner, claim_cursor
from shoptrack.store.events_repo import EventLog
from shoptrack.store.tables import (
    contact_merges,
    contact_visitors,
    contacts,
    events,
    pending_identities,
    processor_cursors,
)
from tests.support.identity import event_row


def _one(identity: IdentityServices, site_id: str, **row: Any) -> dict[str, Any]:
    result = identity.contacts.upsert_many(site_id, [row])
    assert not result.failed, result.failed
    return identity.contacts.get(site_id, result.contacts[0]["id"])


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_contact_rows_hold_only_ciphertext_and_blind_indexes(
    engine: Engine, identity: IdentityServices, site_id: str
) -> None:
    contact = _one(
        identity,
        site_id,
        externalCustomerId="EXT-42",
        email="Zoe@Example.com",
        phone="+16502530000",
        firstName="Zoë",
        city="Lviv",
        fields={"vip": True},
    )
    with engine.connect() as conn:
        row = conn.execute(select(contacts)).one()
    raw = repr(tuple(row)).lower()
    for secret in ("ext-42", "zoe@example.com", "16502530000", "zoë", "lviv", "vip"):
        assert secret not in raw
    assert Keyring.key_id_of(bytes(row.profile_enc)) == identity.keyring.active_id
    assert row.site_id == site_id and row.email_bidx and row.phone_bidx and row.external_bidx
    found = identity.contacts.lookup(site_id, "email", " ZOE@example.COM")
    assert [c["id"] for c in found] == [contact["id"]]
    assert found[0]["fields"] == {"vip": True}
    assert identity.contacts.lookup(site_id, "phone", "+1 650-253-0000")[0]["id"] == contact["id"]
    assert identity.contacts.lookup(site_id, "externalCustomerId", "EXT-42")[0]["city"] == "Lviv"


def test_different_external_ids_never_merge(identity: IdentityServices, site_id: str) -> None:
    _one(identity, site_id, externalCustomerId="A", email="a@example.com")
    result = identity.contacts.upsert_many(
        site_id, [{"externalCustomerId": "B", "email": "a@example.com"}]
    )
    assert result.contacts == []
    assert result.failed[0]["error"]["field"] == "email"


def test_processor_links_visitors_and_auto_creates(
    engine: Engine,
    identity: IdentityServices,
    event_log: EventLog,
    keyring: Keyring,
    site_id: str,
    runner: ProcessorRunner,
) -> None:
    rows = [
        event_row(keyring, site_id, "v1"),
        event_row(keyring, site_id, "v1", "CustomerData", {"user_email": "Max@Example.com"}),
        event_row(keyring, site_id, "v2", "PageView", {"user_email": "max@example.com"}),
        event_row(keyring, site_id, "v3", "CustomerData", {"user_email": "broken"}),
    ]
    event_log.append(rows, [])
    runner.drain()
    found = identity.contacts.lookup(site_id, "email", "max@example.com")
    assert len(found) == 1 and found[0]["source"] == "event"
    assert {v["visitor_id"] for v in found[0]["visitors"]} == {"v1", "v2"}
    _, history = identity.contacts.history(site_id, found[0]["id"])
    assert len(history) == 3  # v1's anonymous view, its CustomerData, v2's page view
    assert _count(engine, contacts) == 1  # the invalid e-mail made nothing
    with engine.connect() as conn:
        position = conn.execute(
            select(processor_cursors.c.position).where(processor_cursors.c.name == "identity")
        ).scalar_one()
    assert position == event_log.last_seq()


def test_pending_identity_becomes_a_link_when_the_api_creates_the_contact(
    engine: Engine,
    identity: IdentityServices,
    event_log: EventLog,
    keyring: Keyring,
    site_id: str,
    runner: ProcessorRunner,
) -> None:
    identity.site_settings.update(site_id, {"auto_create_contacts": False})
    event_log.append(
        [
            event_row(keyring, site_id, "v9"),
            event_row(
                keyring,
                site_id,
                "v9",
                "CustomerData",
                {"user_phone": "+380501234567", "user_name": "Olena"},
            ),
        ],
        [],
    )
    runner.drain()
    assert _count(engine, contacts) == 0
    assert _count(engine, pending_identities) == 1
    contact = _one(identity, site_id, phone="380501234567", externalCustomerId="shop-7")
    assert [v["visitor_id"] for v in contact["visitors"]] == ["v9"]
    assert contact["firstName"] == "Olena"  # filled from the pending identity
    assert _count(engine, pending_identities) == 0
    _, history = identity.contacts.history(site_id, contact["id"])
    assert len(history) == 2


def test_same_email_for_two_contacts_merges_deterministically(
    engine: Engine,
    identity: IdentityServices,
    event_log: EventLog,
    keyring: Keyring,
    site_id: str,
    runner: ProcessorRunner,
) -> None:
    older = _one(identity, site_id, externalCustomerId="X", firstName="Old")
    newer = _one(identity, site_id, email="same@example.com", city="Odesa")
    event_log.append(
        [event_row(keyring, site_id, "v-old", "CustomerData", {"externalCustomerId": "X"})], []
    )
    event_log.append(
        [event_row(keyring, site_id, "v-new", "CustomerData", {"user_email": "same@example.com"})],
        [],
    )
    runner.drain()
    # The same e-mail now arrives for the contact with externalCustomerId X.
    event_log.append(
        [
            event_row(
                keyring,
                site_id,
                "v-third",
                "CustomerData",
                {"externalCustomerId": "X", "user_email": "same@example.com"},
            )
        ],
        [],
    )
    runner.drain()
    survivor = identity.contacts.get(site_id, older["id"])
    assert survivor["email"] == "same@example.com" and survivor["city"] == "Odesa"
    assert survivor["firstName"] == "Old"
    assert {v["visitor_id"] for v in survivor["visitors"]} == {"v-old", "v-new", "v-third"}
    assert identity.contacts.get(site_id, newer["id"])["id"] == older["id"]
    with engine.connect() as conn:
        merge = conn.execute(select(contact_merges)).one()
        loser = conn.execute(select(contacts).where(contacts.c.contact_id == newer["id"])).one()
    assert (merge.survivor_id, merge.merged_id, merge.source) == (older["id"], newer["id"], "event")
    assert loser.profile_enc is None and loser.email_bidx is None
    assert loser.merged_into == older["id"]
    # And the merge is deterministic from the API too: the older contact survives.
    a = _one(identity, site_id, phone="+16502530001")
    b = _one(identity, site_id, externalCustomerId="Y")
    result = identity.contacts.upsert_many(
        site_id, [{"externalCustomerId": "Y", "phone": "+16502530001"}]
    )
    assert result.merged == 1 and result.contacts[0]["id"] == a["id"] != b["id"]


def test_events_never_overwrite_what_the_api_said(
    identity: IdentityServices,
    event_log: EventLog,
    keyring: Keyring,
    site_id: str,
    runner: ProcessorRunner,
) -> None:
    contact = _one(identity, site_id, externalCustomerId="E", email="e@example.com", city="Kyiv")
    event_log.append(
        [
            event_row(
                keyring,
                site_id,
                "v",
                "CustomerData",
                {"externalCustomerId": "E", "user_city": "Lviv", "user_phone": "+16502530002"},
            )
        ],
        [],
    )
    runner.drain()
    after = identity.contacts.get(site_id, contact["id"])
    assert after["city"] == "Kyiv" and after["phone"] == "+16502530002"


def test_runner_passes_a_hole_that_no_open_transaction_can_fill(
    engine: Engine,
    keyring: Keyring,
    identity: IdentityServices,
    site_id: str,
    runner: ProcessorRunner,
) -> None:
    # A hole with no transaction open to fill it (tests/processing/test_sequence_holes.py
    # has one that is held open): passed at once, however long the runner would wait.
    row = event_row(keyring, site_id, "v", "CustomerData", {"user_email": "gap@example.com"})
    values = {k: getattr(row, k) for k in row.__slots__}
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM processor_cursors"))
        conn.execute(events.insert().values(seq=2, **values))  # no seq 1

    runner.gap_wait_s = 60.0
    runner.run_once()
    assert len(identity.contacts.lookup(site_id, "email", "gap@example.com")) == 1


def test_a_locked_processor_is_skipped_not_doubled(
    engine: Engine,
    identity: IdentityServices,
    event_log: EventLog,
    keyring: Keyring,
    site_id: str,
    runner: ProcessorRunner,
) -> None:
    event_log.append(
        [
            event_row(keyring, site_id, f"v{i}", "CustomerData", {"user_email": f"u{i}@ex.com"})
            for i in range(300)
        ],
        [],
    )
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            assert claim_cursor(conn, "identity") == 0  # creates the cursor row
        with engine.begin() as conn:
            assert claim_cursor(conn, "identity") == 0
            assert runner.step(runner.processors[0]).locked
    errors: list[BaseException] = []

    def drain() -> None:
        try:
            runner.drain()
        except BaseException as exc:
            errors.append(exc)

    runner.batch_size = 20
    threads = [threading.Thread(target=drain) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _count(engine, contacts) == 300
    assert _count(engine, contact_visitors) == 300


def test_invalid_settings_are_refused(identity: IdentityServices, site_id: str) -> None:
    with pytest.raises(ShoptrackError):
        identity.site_settings.update(site_id, {"default_region": "Mars"})
    with pytest.raises(ShoptrackError):
        identity.site_settings.update(site_id, {"colour": "red"})
    assert identity.site_settings.update(site_id, {"default_region": "de"}) == {
        "default_region": "DE"
    }
