"""The blind indexes of contact fields (``contact_field_index``): written through every door
a profile changes by, never plaintext, limited, and rebuilt by ``contacts reindex``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, select
from typer.testing import CliRunner

from shoptrack.cli.main import app
from shoptrack.config import Settings
from shoptrack.identity.crypto import Keyring
from shoptrack.identity.field_index import (
    MAX_INDEXED_FIELDS,
    field_bidx,
    normalize_field_value,
    reindex,
)
from shoptrack.identity.services import IdentityServices
from shoptrack.processing.runner import ProcessorRunner
from shoptrack.store.events_repo import EventLog
from shoptrack.store.tables import contact_field_index
from tests.support.identity import event_row


def _rows(engine: Engine) -> list[Any]:
    i = contact_field_index.c
    with engine.connect() as conn:
        return conn.execute(
            select(i.contact_id, i.field, i.value_bidx).order_by(i.contact_id, i.field)
        ).all()


def _put(identity: IdentityServices, site_id: str, *rows: dict[str, Any]) -> list[str]:
    result = identity.contacts.upsert_many(site_id, list(rows))
    assert not result.failed, result.failed
    return [str(c["id"]) for c in result.contacts]


def test_the_index_holds_keyed_hashes_of_normalised_values_never_the_values(
    engine: Engine, identity: IdentityServices, keyring: Keyring, site_id: str
) -> None:
    (contact,) = _put(
        identity,
        site_id,
        {
            "email": "z@example.com",
            "city": "  České Budějovice ",
            "fields": {"Secret_Note": "Wilhelmina Private", "age": 987654321, "vip": False},
        },
    )
    rows = _rows(engine)
    assert [(r.contact_id, r.field) for r in rows] == [
        (contact, "city"),
        (contact, "fields.age"),
        (contact, "fields.secret_note"),
        (contact, "fields.vip"),
    ]
    raw = repr(rows).casefold()
    for plain in ("budějovice", "budejovice", "wilhelmina", "private", "987654321", "false"):
        assert plain not in raw
    by_field = {r.field: r.value_bidx for r in rows}
    assert by_field["city"] == field_bidx(keyring, site_id, "city", "české budějovice")
    assert all(len(v) == 64 and int(v, 16) >= 0 for v in by_field.values())
    # The same value under another site's or another field's name hashes differently.
    assert by_field["city"] != field_bidx(keyring, "other", "city", "české budějovice")
    assert by_field["fields.vip"] != field_bidx(keyring, site_id, "fields.age", "false")
    # Another keyring (another installation) cannot test a guess against the index.
    assert by_field["city"] != field_bidx(Keyring.generate(), site_id, "city", "české budějovice")


def test_normalising() -> None:
    assert normalize_field_value("  ＡＢＣ  def\t ") == "abc def"
    assert normalize_field_value("STRASSE") == normalize_field_value("straße")
    assert normalize_field_value(3.0) == "3" and normalize_field_value(3.5) == "3.5"
    assert normalize_field_value(True) == "true"
    assert normalize_field_value(None) is None and normalize_field_value("   ") is None


def test_changes_removals_and_limits(
    engine: Engine, identity: IdentityServices, site_id: str
) -> None:
    (contact,) = _put(identity, site_id, {"email": "a@example.com", "city": "Praha"})
    before = _rows(engine)
    _put(identity, site_id, {"email": "a@example.com", "city": "Brno", "fields": {"x": "1"}})
    after = {r.field: r.value_bidx for r in _rows(engine)}
    assert set(after) == {"city", "fields.x"} and after["city"] != before[0].value_bidx
    _put(identity, site_id, {"email": "a@example.com", "city": None, "fields": {"x": None}})
    assert _rows(engine) == []
    # At most MAX_INDEXED_FIELDS custom fields (the first by name), though a contact may
    # gather more over several writes.
    many = {f"f{n:03d}": n for n in range(MAX_INDEXED_FIELDS)}
    _put(identity, site_id, {"email": "a@example.com", "fields": many})
    _put(identity, site_id, {"email": "a@example.com", "fields": {"zz": "one too many"}})
    fields = [r.field for r in _rows(engine)]
    assert len(fields) == MAX_INDEXED_FIELDS and "fields.f000" in fields
    assert "fields.zz" not in fields
    assert all(r.contact_id == contact for r in _rows(engine))


def test_events_that_identify_a_visitor_write_the_index(
    engine: Engine,
    identity: IdentityServices,
    event_log: EventLog,
    keyring: Keyring,
    site_id: str,
    runner: ProcessorRunner,
) -> None:
    event_log.append(
        [
            event_row(
                keyring,
                site_id,
                "v1",
                "CustomerData",
                {"user_email": "max@example.com", "user_city": "Lviv", "user_tier": "Gold"},
            )
        ],
        [],
    )
    runner.drain()
    (found,) = identity.contacts.lookup(site_id, "email", "max@example.com")
    rows = _rows(engine)
    assert {(r.contact_id, r.field) for r in rows} == {
        (found["id"], "city"),
        (found["id"], "fields.tier"),
    }


def test_reindex_backfills_contacts_written_before_the_index(
    engine: Engine,
    identity: IdentityServices,
    keyring: Keyring,
    site_id: str,
    settings: Settings,
    tmp_path: Path,
) -> None:
    written = _put(
        identity,
        site_id,
        *({"email": f"p{n}@example.com", "city": f"City {n % 3}"} for n in range(7)),
    )
    _put(identity, site_id, {"email": "p0@example.com", "phone": "+420601111111"})
    complete = _rows(engine)
    assert len(complete) == 7
    # As a store migrated to 0019 from before: contacts without index rows.
    with engine.begin() as conn:
        conn.execute(delete(contact_field_index))
    progress: list[tuple[str, int, int]] = []
    assert reindex(engine, keyring, batch=3, progress=lambda *a: progress.append(a)) == (7, 0)
    assert _rows(engine) == complete
    assert progress[-1] == (site_id, 7, 7) and (site_id, 3, 7) in progress
    # Running it again changes nothing.
    assert reindex(engine, keyring, [site_id]) == (7, 0)
    assert _rows(engine) == complete and len(written) == 7

    # The command, against the same store and key file.
    with engine.begin() as conn:
        conn.execute(delete(contact_field_index))
    key_file = tmp_path / "cli.keys"
    key_file.write_bytes(keyring.to_json())
    result = CliRunner(env={"SHOPTRACK_KEY_FILE": str(key_file)}).invoke(
        app, ["contacts", "reindex", site_id, "--database-url", settings.database_url]
    )
    assert result.exit_code == 0, result.output
    assert "7 contacts indexed" in result.output
    assert _rows(engine) == complete
