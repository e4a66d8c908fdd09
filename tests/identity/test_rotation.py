"""Key rotation while reads and writes go on; `keys status`; the key file stays 0600."""

from __future__ import annotations

import random
import stat
import threading
import time
from pathlib import Path

from sqlalchemy import Engine, select
from typer.testing import CliRunner

from shoptrack.cli.main import app as cli_app
from shoptrack.identity.contacts import ContactService
from shoptrack.identity.crypto import PURPOSE_EVENT_IDENTITY, Keyring
from shoptrack.identity.rotation import key_usage, rotate
from shoptrack.identity.services import IdentityServices
from shoptrack.processing.runner import ProcessorRunner
from shoptrack.store.events_repo import EventLog
from shoptrack.store.tables import events
from tests.support.identity import event_row


def test_rotation_reencrypts_everything_while_reads_and_writes_continue(
    engine: Engine,
    identity: IdentityServices,
    event_log: EventLog,
    keyring: Keyring,
    site_id: str,
    tmp_path: Path,
    runner: ProcessorRunner,
) -> None:
    key_file = tmp_path / "shoptrack.keys"
    rows = [{"email": f"r{i}@example.com", "phone": f"+1650253{i:04d}"} for i in range(300)]
    assert not identity.contacts.upsert_many(site_id, rows).failed
    for start in range(0, 6000, 1000):
        batch = [
            event_row(
                keyring, site_id, f"v{i}", "CustomerData", {"user_email": f"r{i % 300}@ex.com"}
            )
            for i in range(start, start + 1000)
        ]
        event_log.append(batch, [])
    runner.drain()
    assert set(key_usage(engine)["events.identity_enc"]) == {"k1"}

    # A reader and a writer that loaded the keys before the rotation (other processes).
    reader_ring = Keyring.load(key_file)
    writer_ring = Keyring.load(key_file)
    reader = ContactService(engine, reader_ring)
    stop = threading.Event()
    errors: list[BaseException] = []
    reads = [0]

    def read_loop() -> None:
        rng = random.Random(1)
        while not stop.is_set():
            try:
                i = rng.randrange(300)
                found = reader.lookup(site_id, "email", f"r{i}@example.com")
                assert found[0]["phone"] == f"+1650253{i:04d}"
                with engine.connect() as conn:
                    blobs = conn.execute(
                        select(events.c.identity_enc)
                        .where(events.c.identity_enc.is_not(None))
                        .order_by(events.c.seq.desc())
                        .limit(20)
                    ).scalars()
                    for blob in blobs:
                        reader_ring.decrypt_json(bytes(blob), PURPOSE_EVENT_IDENTITY)
                reads[0] += 1
            except BaseException as exc:
                errors.append(exc)
                return

    def write_loop() -> None:
        n = 0
        while not stop.is_set():
            event_log.append(
                [
                    event_row(
                        writer_ring,
                        site_id,
                        f"w{n}",
                        "CustomerData",
                        {"user_email": f"w{n}@example.com"},
                    )
                ],
                [],
            )
            n += 1
            time.sleep(0.005)

    threads = [threading.Thread(target=read_loop), threading.Thread(target=write_loop)]
    for thread in threads:
        thread.start()
    seen: dict[str, int] = {}
    grace = 1.2
    try:
        report = rotate(
            engine,
            key_file,
            batch=500,
            grace_s=grace,
            progress=lambda label, done, total: seen.__setitem__(label, total),
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == [], errors
    assert reads[0] > 0
    assert report.new_key_id == "k2" and report.retired == ["k1"]
    assert report.total >= 6300
    assert set(seen) == {
        "contacts.profile_enc",
        "pending_identities.identity_enc",
        "events.identity_enc",
        "rejected_events.body_enc",
        "sites.identity_secret_enc",
    }
    work = report.seconds - grace
    print(
        f"\nrotation: {report.total} ciphertexts in {work:.2f}s "
        f"({report.total / work:,.0f}/s, {report.passes} passes, {engine.dialect.name})"
    )
    # Everything, including what the writer wrote with the old key meanwhile, is on k2 now.
    usage = key_usage(engine)
    assert all(set(counter) <= {"k2"} for counter in usage.values()), usage
    fresh = Keyring.load(key_file)
    assert list(fresh.keys) == ["k2"] and fresh.active_id == "k2"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert ContactService(engine, fresh).lookup(site_id, "email", "r7@example.com")


def test_keys_cli_status_and_rotate(tmp_path: Path, database_url: str) -> None:
    runner = CliRunner()
    env = {"SHOPTRACK_KEY_FILE": str(tmp_path / "cli.keys"), "SHOPTRACK_DATABASE_URL": database_url}
    status = runner.invoke(cli_app, ["keys", "status"], env=env)
    assert status.exit_code == 0, status.output
    assert "events.identity_enc" in status.output
    rotated = runner.invoke(cli_app, ["keys", "rotate"], env=env)
    assert rotated.exit_code == 0, rotated.output
    assert "active key: k2" in rotated.output
    assert Keyring.load(tmp_path / "cli.keys").active_id == "k2"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("cli.keys")) == [
        "cli.keys"
    ]  # no lock file left behind
    refused = runner.invoke(
        cli_app, ["keys", "rotate"], env={**env, "SHOPTRACK_ENCRYPTION_KEYS": "{}"}
    )
    assert refused.exit_code == 1
