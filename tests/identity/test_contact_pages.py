"""The dashboard's reads of contacts (``identity/contact_pages.py``) on both stores: newest
first by keyset, search by any identifier, a contact's visitors and devices, erasure records."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, update

from shoptrack.errors import ShoptrackError
from shoptrack.identity.contact_pages import (
    contact_visitor_ids,
    contacts_of_visitors,
    devices_of,
    erasure_record,
    newest_contacts,
    parse_cursor,
    search_contacts,
)
from shoptrack.identity.crypto import Keyring
from shoptrack.identity.erasure import erase_contact
from shoptrack.identity.services import IdentityServices
from shoptrack.identity.store import upsert_links
from shoptrack.store.events_repo import EventLog
from shoptrack.store.tables import contacts
from tests.support.identity import event_row


def _create(identity: IdentityServices, site_id: str, n: int, created_at: int) -> str:
    row: dict[str, Any] = {"externalCustomerId": f"EXT-{n}", "email": f"p{n}@example.com"}
    result = identity.contacts.upsert_many(site_id, [row])
    contact_id = str(result.contacts[0]["id"])
    with identity.engine.begin() as conn:
        conn.execute(
            update(contacts)
            .where(contacts.c.site_id == site_id, contacts.c.contact_id == contact_id)
            .values(created_at=created_at)
        )
    return contact_id


def _link(engine: Engine, site_id: str, contact_id: str, *visitors: str) -> None:
    with engine.begin() as conn:
        upsert_links(
            conn,
            [
                {"site_id": site_id, "visitor_id": v, "contact_id": contact_id, "linked_at": i}
                for i, v in enumerate(visitors, 1)
            ],
        )


def test_newest_first_by_keyset(engine: Engine, identity: IdentityServices, site_id: str) -> None:
    # Two share a creation time: the id breaks the tie, and paging still sees each once.
    times = [100, 200, 200, 300, 400, 500, 600]
    ids = [_create(identity, site_id, n, at) for n, at in enumerate(times)]
    _link(engine, site_id, ids[6], "va", "vb")
    expected = sorted(zip(times, ids, strict=True), reverse=True)
    seen: list[tuple[int, str]] = []
    before = None
    while True:
        page = newest_contacts(engine, identity.keyring, site_id, before, limit=3)
        seen += [(c.created_at, c.contact_id) for c in page.contacts]
        if page.older is None:
            break
        before = page.older
    assert seen == expected
    first = newest_contacts(engine, identity.keyring, site_id, None, 1).contacts[0]
    assert first.profile is not None and first.profile["email"] == "p6@example.com"
    assert first.visitors == 2 and first.problem is None


def test_a_lost_key_lists_the_contact_with_the_problem(
    engine: Engine, identity: IdentityServices, site_id: str
) -> None:
    _create(identity, site_id, 1, 100)
    listed = newest_contacts(engine, Keyring.generate(), site_id, None).contacts
    assert listed[0].profile is None and "cannot be decrypted" in str(listed[0].problem)


def test_cursor_parsing() -> None:
    assert parse_cursor("123.ct_ab") == (123, "ct_ab")
    assert parse_cursor("x.ct_ab") is None and parse_cursor("123.") is None
    assert parse_cursor(None) is None and parse_cursor("9" * 30 + ".a") is None


def test_search_by_any_identifier(identity: IdentityServices, site_id: str) -> None:
    row = {"externalCustomerId": "C-77", "email": "Zoe@Example.com", "phone": "+16502530000"}
    cid = identity.contacts.upsert_many(site_id, [row]).contacts[0]["id"]
    service = identity.contacts
    for value in ("C-77", " zoe@EXAMPLE.com", "+1 650 253 0000"):
        assert [c.contact_id for c in search_contacts(service, site_id, value)] == [cid], value
    assert search_contacts(service, site_id, "nobody@example.com") == []
    # One kind asked for: a value that is not of that kind is an error, not "no match".
    with pytest.raises(ShoptrackError):
        search_contacts(service, site_id, "C-77", "email")
    found = search_contacts(service, site_id, "C-77", "externalCustomerId")
    assert [c.contact_id for c in found] == [cid]
    assert found[0].profile is not None and found[0].profile["email"] == "zoe@example.com"


def test_visitors_devices_and_contacts_of_visitors(
    engine: Engine, identity: IdentityServices, keyring: Keyring, site_id: str
) -> None:
    cid = _create(identity, site_id, 1, 100)
    _link(engine, site_id, cid, "phone-visitor", "laptop-visitor")
    row = event_row(keyring, site_id, "phone-visitor")
    data = orjson.loads(row.data)
    data["user_agent"] = {"browser": "Mobile Safari", "os": "iOS", "device": "iPhone"}
    row.data = orjson.dumps(data).decode()
    EventLog(engine).append([row, event_row(keyring, site_id, "stranger")], [])
    assert contact_visitor_ids(engine, site_id, cid) == (cid, ["phone-visitor", "laptop-visitor"])
    assert contact_visitor_ids(engine, site_id, "ct_none") == ("", [])
    assert contacts_of_visitors(engine, site_id, ["phone-visitor", "stranger", ""]) == {
        "phone-visitor": cid
    }
    devices = {d.visitor_id: d for d in devices_of(engine, site_id, cid)}
    assert devices["phone-visitor"].browser == "Mobile Safari"
    assert devices["phone-visitor"].last_seen == row.occurred_at
    assert devices["laptop-visitor"].last_seen is None


def test_erasure_record(engine: Engine, identity: IdentityServices, site_id: str) -> None:
    cid = _create(identity, site_id, 1, 100)
    report = erase_contact(engine, identity.keyring, site_id, cid, actor="admin:1")
    record = erasure_record(engine, site_id, report.audit_id)
    assert record is not None and record["subject"] == cid and record["actor"] == "admin:1"
    assert record["details"]["erased"] == cid and "events_unlinked" in record["details"]
    assert erasure_record(engine, "another-site", report.audit_id) is None
