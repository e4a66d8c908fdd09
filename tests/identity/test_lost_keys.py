"""Issue 13 point 4: a lost key file is never silent.

Reproduction: deleting the key file and restarting made a fresh file with the same key id
``k1``; old contacts then answered 500 on read, export and DELETE, and the same person became
a second contact. Now ids are random, the start refuses with what to restore, and a contact
whose key is lost for good can still be erased.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from shoptrack.cli.main import app as cli_app
from shoptrack.config import Settings
from shoptrack.identity.crypto import Keyring
from shoptrack.identity.keycheck import MissingKeys, key_ids_in_store
from shoptrack.identity.rotation import key_usage
from shoptrack.services import Services
from shoptrack.store.events_repo import EventLog
from shoptrack.store.tables import contacts, events
from shoptrack.web.app import create_app
from tests.support.databases import migrated_engine
from tests.support.identity import (
    auth,
    customer_data,
    drain,
    event_row,
    post_contacts,
    product_view,
    send_browser,
    services_of,
)

KEY_ID = re.compile(r"^k[0-9a-f]{8}$")


def _populate(settings: Settings) -> dict[str, Any]:
    """A site with one contact, linked to a visitor whose events carry an identity."""
    with TestClient(create_app(settings)) as client:
        site, key = services_of(client).site_repo.create("Lost keys shop")
        answer = post_contacts(client, key, {"email": "anna@example.com", "firstName": "Anna"})
        assert answer.status_code == 200, answer.text
        send_browser(
            client, site.site_id, "v-anna", customer_data(user_email="anna@example.com"),
            product_view("P-1"),
        )  # fmt: skip
        drain(client)
        return {
            "site_id": site.site_id,
            "key": key,
            "contact_id": answer.json()["contact"]["id"],
            "key_id": services_of(client).keyring.active_id,
        }


def test_new_key_ids_are_random_and_old_files_keep_working(tmp_path: Path) -> None:
    first, second = Keyring.generate(), Keyring.generate()
    assert KEY_ID.match(first.active_id) and KEY_ID.match(second.active_id)
    assert first.active_id != second.active_id
    rotated = first.with_new_key()
    assert KEY_ID.match(rotated.active_id) and rotated.active_id != first.active_id

    # A key file of an older release, with k1, still loads and rotates to a random id.
    old = Keyring("k1", {"k1": bytes(32)}, bytes(32))
    old.save(tmp_path / "old.keys")
    loaded = Keyring.load(tmp_path / "old.keys")
    assert loaded.active_id == "k1"
    assert set(loaded.with_new_key().keys) - {"k1"} != set()


def test_the_key_ids_in_store_are_read_from_the_headers(settings: Settings, engine: Engine) -> None:
    store = _populate(settings)
    # Ids of lengths the scan does not expect are found by a second query.
    odd = Keyring("an-operator's-own-key-id", {"an-operator's-own-key-id": bytes(32)}, bytes(32))
    EventLog(engine).append(
        [event_row(odd, store["site_id"], "v-odd", "CustomerData", {"a": 1})], []
    )
    fast = key_ids_in_store(engine)
    slow = key_usage(engine)  # rotation's row-by-row count, the reference
    assert fast == slow
    assert fast["contacts.profile_enc"] == {store["key_id"]: 1}
    assert fast["events.identity_enc"]["an-operator's-own-key-id"] == 1


def test_a_lost_key_file_stops_the_start_naming_keys_rows_and_path(settings: Settings) -> None:
    store = _populate(settings)
    settings.key_path.unlink()

    with pytest.raises(MissingKeys) as refused:
        Services.build(settings)
    message = str(refused.value)
    assert store["key_id"] in message
    assert "rows" in message
    assert str(settings.key_path) in message and settings.key_path.is_absolute()
    assert "restore the key file from backup (SHOPTRACK_KEY_FILE=" in message
    # A fresh key file next to a used store is exactly the failure: none is made.
    assert not settings.key_path.exists()


def test_a_key_file_without_the_stores_keys_stops_the_start(settings: Settings) -> None:
    store = _populate(settings)
    Keyring.generate().save(settings.key_path)  # another installation's file, say

    with pytest.raises(MissingKeys, match=store["key_id"]):
        Services.build(settings)


def test_an_undecryptable_contact_reads_as_key_missing_and_can_be_erased(
    settings: Settings, database_url: str
) -> None:
    store = _populate(settings)
    settings.key_path.unlink()
    # The keys are lost for good: the operator starts anyway, to erase.
    allowed = settings.model_copy(update={"allow_missing_keys": True})
    site_id, key, cid = store["site_id"], store["key"], store["contact_id"]
    with TestClient(create_app(allowed)) as client:
        for path in (f"/api/v1/contacts/{cid}", f"/api/v1/contacts/{cid}/export"):
            answer = client.get(path, headers=auth(key))
            assert answer.status_code == 503, (path, answer.text)
            error = answer.json()["error"]
            assert error["code"] == "key_missing"
            assert store["key_id"] in error["message"]

        erased = client.delete(f"/api/v1/contacts/{cid}", headers=auth(key))
        assert erased.status_code == 200, erased.text
        report = erased.json()
        assert report["erased"] == cid and report["visitors"] == 1
        assert report["events_unlinked"] == 2
        assert any("e-mail and phone are unknown" in note for note in report["not_matched"])
        assert client.get(f"/api/v1/contacts/{cid}", headers=auth(key)).status_code == 404

    engine = migrated_engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(contacts).where(contacts.c.site_id == site_id)).all() == []
            rows = conn.execute(select(events).where(events.c.site_id == site_id)).all()
    finally:
        engine.dispose()
    assert rows and all(row.identity_enc is None for row in rows)
    assert all(row.visitor_id.startswith("erased-") for row in rows)
    assert all(orjson.loads(row.data)["visitor_id"] != "v-anna" for row in rows)


def test_the_cli_erases_without_the_key_file_and_makes_none(
    settings: Settings, database_url: str
) -> None:
    store = _populate(settings)
    settings.key_path.unlink()
    env = {"SHOPTRACK_KEY_FILE": str(settings.key_path)}
    runner = CliRunner()

    listed = runner.invoke(
        cli_app, ["contacts", "list", store["site_id"], "--database-url", database_url], env=env
    )
    assert listed.exit_code != 0 and isinstance(listed.exception, MissingKeys)

    command = ["contacts", "erase", store["site_id"], store["contact_id"]]
    erased = runner.invoke(cli_app, [*command, "--database-url", database_url], env=env)
    assert erased.exit_code == 0, erased.output
    report = orjson.loads(erased.stdout.strip().splitlines()[-1])
    assert report["erased"] == store["contact_id"] and report["not_matched"]
    assert not settings.key_path.exists()


def test_the_default_key_file_follows_the_sqlite_file_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOPTRACK_KEY_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    on_file = Settings(database_url=f"sqlite:///{tmp_path / 'data' / 'shop.db'}")
    assert on_file.key_path == tmp_path / "data" / "shop.keys"
    # The old default store, ./shoptrack.db, keeps its old key file, ./shoptrack.keys.
    assert Settings(database_url="sqlite:///./shoptrack.db").key_path == (
        tmp_path / "shoptrack.keys"
    )
    other = Settings(database_url="postgresql://u@h/db")
    assert other.key_path == tmp_path / "shoptrack.keys" and other.key_path.is_absolute()
    explicit = Settings(database_url="postgresql://u@h/db", key_file="rel/k.keys")
    assert explicit.key_path == tmp_path / "rel" / "k.keys"
    assert Settings(key_file="").key_file is None
