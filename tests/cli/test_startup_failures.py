"""Issue 13 point 9: a start that cannot work ends at once with one clear line, no traceback.

Reproduction: a corrupted SQLite header made ``shoptrack serve`` exit with a ~470-line
traceback. Each case runs the real command in a subprocess with a short timeout.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from shoptrack.cli.failures import explain_failure
from shoptrack.identity.contacts import ContactService
from shoptrack.identity.crypto import Keyring
from shoptrack.store.sites_repo import SiteRepository
from tests.support.corrupt import corrupt_header
from tests.support.databases import migrated_engine
from tests.support.server import free_port

pytestmark = pytest.mark.timeout(120)


def run_shoptrack(
    tmp_path: Path, database_url: str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "SHOPTRACK_DATABASE_URL": database_url,
        "SHOPTRACK_KEY_FILE": str(tmp_path / "shop.keys"),
        "SHOPTRACK_LOG_LEVEL": "warning",
        **env,
    }
    command = [sys.executable, "-m", "shoptrack", *args]
    if args[-1] == "serve":
        command += ["--port", str(free_port())]
    return subprocess.run(
        command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60
    )


def assert_one_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("shoptrack: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def sqlite_store(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "shop.db"
    engine = migrated_engine(f"sqlite:///{db}")
    engine.dispose()
    return db, f"sqlite:///{db}"


def test_a_corrupted_sqlite_header_is_one_line_and_exit_1(tmp_path: Path) -> None:
    db, url = sqlite_store(tmp_path)
    corrupt_header(db)
    result = run_shoptrack(tmp_path, url, "serve")
    assert_one_line(result, "file is not a database", "shoptrack doctor")
    # --debug (or SHOPTRACK_LOG_LEVEL=debug) shows the traceback for a bug report.
    debug = run_shoptrack(tmp_path, url, "--debug", "serve")
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_an_unreachable_postgresql_is_one_line(tmp_path: Path) -> None:
    result = run_shoptrack(tmp_path, "postgresql://shoptrack@127.0.0.1:1/nothing", "serve")
    assert_one_line(result, "the store cannot be used", "OperationalError")


def test_a_failed_migration_is_one_line(tmp_path: Path) -> None:
    db, url = sqlite_store(tmp_path)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = 'from-the-future'")
    conn.close()
    result = run_shoptrack(tmp_path, url, "serve")
    assert_one_line(result, "migrations failed", "from-the-future")


def test_missing_keys_stop_serve_and_the_worker_with_one_line(tmp_path: Path) -> None:
    _, url = sqlite_store(tmp_path)
    engine = migrated_engine(url)
    try:
        site, _ = SiteRepository(engine).create("Shop")
        ring = Keyring.load_or_create(tmp_path / "shop.keys")
        ContactService(engine, ring).upsert_many(site.site_id, [{"email": "a@example.com"}])
    finally:
        engine.dispose()
    (tmp_path / "shop.keys").unlink()

    for command in ("serve", "worker"):
        result = run_shoptrack(tmp_path, url, command)
        line = assert_one_line(result, ring.active_id, str(tmp_path / "shop.keys"))
        assert "restore the key file from backup" in line
    assert not (tmp_path / "shop.keys").exists()


def test_bad_settings_are_one_line_and_exit_2(tmp_path: Path) -> None:
    _, url = sqlite_store(tmp_path)
    result = run_shoptrack(tmp_path, url, "migrate", SHOPTRACK_SQLITE_SYNCHRONOUS="sometimes")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "SHOPTRACK_SQLITE_SYNCHRONOUS" in result.stderr


def test_a_file_the_start_needs_is_named_in_one_line() -> None:
    denied = PermissionError(13, "Permission denied", "/srv/shop/shop.keys")
    assert explain_failure(denied) == (
        "Permission denied: /srv/shop/shop.keys; run `shoptrack doctor` for what to do",
        1,
    )
    assert explain_failure(RuntimeError("a bug")) is None  # bugs keep their traceback
