"""``shoptrack doctor``: each check says ok or FAIL with what to do; exit 1 on any failure."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from shoptrack.cli.main import app as cli_app
from shoptrack.identity.contacts import ContactService
from shoptrack.identity.crypto import Keyring
from shoptrack.store.sites_repo import SiteRepository
from tests.support.corrupt import corrupt_header, corrupt_table_page
from tests.support.databases import migrated_engine


def store_with_contact(database_url: str, key_file: Path) -> Keyring:
    engine = migrated_engine(database_url)
    try:
        site, _ = SiteRepository(engine).create("Doctor's shop")
        ring = Keyring.load_or_create(key_file)
        ContactService(engine, ring).upsert_many(site.site_id, [{"email": "a@example.com"}])
    finally:
        engine.dispose()
    return ring


def doctor(database_url: str, key_file: Path) -> Result:
    return CliRunner().invoke(
        cli_app,
        ["doctor", "--database-url", database_url],
        env={"SHOPTRACK_KEY_FILE": str(key_file), "SHOPTRACK_ENCRYPTION_KEYS": ""},
    )


def line_of(result: Result, check: str) -> str:
    found = [line for line in result.output.splitlines() if f" {check}: " in line]
    assert found, result.output
    return found[0]


def test_a_sound_installation_passes_every_check(database_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "shop.keys"
    store_with_contact(database_url, key_file)
    result = doctor(database_url, key_file)
    assert result.exit_code == 0, result.output
    for check in ("store", "integrity", "migrations", "keys in store", "key file", "disk space"):
        assert line_of(result, check).startswith("ok"), result.output
    assert "FAIL" not in result.output


def test_a_lost_key_file_is_named_with_its_keys(database_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "shop.keys"
    ring = store_with_contact(database_url, key_file)
    key_file.unlink()
    result = doctor(database_url, key_file)
    assert result.exit_code == 1
    keys = line_of(result, "keys in store")
    assert keys.startswith("FAIL") and ring.active_id in keys and str(key_file) in keys
    assert "restore the key file from backup" in result.output
    assert line_of(result, "key file").startswith("FAIL")
    assert not key_file.exists()  # the doctor changes nothing


def test_a_readable_key_file_and_an_old_schema_are_told_with_the_fix(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    key_file = tmp_path / "shop.keys"
    store_with_contact(f"sqlite:///{db}", key_file)
    os.chmod(key_file, 0o644)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = '0008'")
    conn.close()
    result = doctor(f"sqlite:///{db}", key_file)
    assert result.exit_code == 1
    assert "chmod 600" in result.output and line_of(result, "key file").startswith("FAIL")
    migrations = line_of(result, "migrations")
    assert migrations.startswith("FAIL") and "0008" in migrations
    assert "shoptrack migrate" in result.output


def test_a_corrupted_page_fails_the_integrity_check(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    key_file = tmp_path / "shop.keys"
    store_with_contact(f"sqlite:///{db}", key_file)
    corrupt_table_page(db, "sites")
    result = doctor(f"sqlite:///{db}", key_file)
    assert result.exit_code == 1
    integrity = line_of(result, "integrity")
    assert integrity.startswith("FAIL") and "malformed" in integrity
    assert "restore the last good backup" in result.output


def test_a_corrupted_header_fails_the_store_check(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    key_file = tmp_path / "shop.keys"
    store_with_contact(f"sqlite:///{db}", key_file)
    corrupt_header(db)
    result = doctor(f"sqlite:///{db}", key_file)
    assert result.exit_code == 1
    store = line_of(result, "store")
    assert store.startswith("FAIL") and "file is not a database" in store
