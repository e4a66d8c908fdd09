"""``shoptrack segments …`` on both stores: create from a file, preview, export CSV."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import orjson
from typer.testing import CliRunner

from shoptrack.cli.main import app
from shoptrack.identity.contacts import ContactService
from shoptrack.identity.crypto import Keyring
from tests.segments.world import HOUR, World
from tests.support.databases import migrated_engine


def test_create_preview_export_and_delete(database_url: str, tmp_path: Path) -> None:
    engine = migrated_engine(database_url)
    world = World(engine)
    now = int(time.time() * 1000)
    world.contact("c1", "v1", email=True)
    world.view("v1", "p1", now - HOUR)
    world.view("v2", "p1", now - HOUR)
    world.facts()
    engine.dispose()
    definition = tmp_path / "viewers.json"
    definition.write_bytes(orjson.dumps({"match": {"condition": "event", "event": "viewed"}}))
    db = ["--database-url", database_url]
    runner = CliRunner(env={"SHOPTRACK_KEY_FILE": str(tmp_path / "shop.keys")})
    preview = runner.invoke(app, ["segments", "preview", "shop", str(definition), *db])
    assert preview.exit_code == 0, preview.output
    assert orjson.loads(preview.stdout)["count"] == 2
    made = runner.invoke(app, ["segments", "create", "shop", "Viewers", str(definition), *db])
    assert made.exit_code == 0, made.output
    segment_id = orjson.loads(made.stdout)["id"]
    exported = runner.invoke(app, ["segments", "export", "shop", str(segment_id), *db])
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [r["contact_id"] for r in rows] == ["c1"]  # the anonymous visitor is not exported
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"match": {"condition": "event", "event": "danced"}}')
    refused = runner.invoke(app, ["segments", "create", "shop", "Bad", str(bad), *db])
    assert refused.exit_code == 1 and "definition.match.event" in refused.output
    gone = runner.invoke(app, ["segments", "delete", "shop", str(segment_id), *db])
    assert gone.exit_code == 0
    assert runner.invoke(app, ["segments", "list", "shop", *db]).stdout == ""


def test_export_with_profile_decrypts_and_never_carries_erased_contacts(
    database_url: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "shop.keys"
    engine = migrated_engine(database_url)
    keyring = Keyring.load_or_create(key_file)
    World(engine)
    people = ContactService(engine, keyring)
    stored = people.upsert_many(
        "shop",
        [
            {"email": "Anna@Example.com", "firstName": "Anna", "city": "Praha"},
            {"phone": "+420 601 111 111", "lastName": "Novák, ml.", "city": "praha"},
            {"externalCustomerId": "X-3", "email": "gone@example.com", "city": "Praha"},
            {"email": "brno@example.com", "city": "Brno"},
        ],
    )
    anna, novak, gone, _ = (str(c["id"]) for c in stored.contacts)
    engine.dispose()
    definition = tmp_path / "praha.json"
    definition.write_bytes(
        orjson.dumps({"match": {"condition": "contact", "field": "city", "equals": "PRAHA"}})
    )
    db = ["--database-url", database_url]
    runner = CliRunner(env={"SHOPTRACK_KEY_FILE": str(key_file)})
    made = runner.invoke(app, ["segments", "create", "shop", "Praha", str(definition), *db])
    assert made.exit_code == 0, made.output
    segment_id = str(orjson.loads(made.stdout)["id"])

    def export() -> list[dict[str, str]]:
        result = runner.invoke(
            app, ["segments", "export", "shop", segment_id, "--with-profile", *db]
        )
        assert result.exit_code == 0, result.output
        return list(csv.DictReader(io.StringIO(result.stdout)))

    rows = {r["contact_id"]: r for r in export()}
    assert set(rows) == {anna, novak, gone}
    assert rows[anna]["email"] == "anna@example.com" and rows[anna]["firstName"] == "Anna"
    assert rows[novak]["phone"] == "+420601111111" and rows[novak]["lastName"] == "Novák, ml."
    assert rows[gone]["externalCustomerId"] == "X-3" and rows[gone]["city"] == "Praha"
    assert list(next(iter(rows.values()))) == [
        "contact_id", "entered_at", "externalCustomerId", "email", "phone", "firstName",
        "lastName", "city",
    ]  # fmt: skip

    erased = runner.invoke(app, ["contacts", "erase", "shop", gone, *db])
    assert erased.exit_code == 0, erased.output
    assert orjson.loads(erased.stdout)["field_indexes_deleted"] == 1
    assert {r["contact_id"] for r in export()} == {anna, novak}
    plain = runner.invoke(app, ["segments", "export", "shop", segment_id, *db])
    assert {r["contact_id"] for r in csv.DictReader(io.StringIO(plain.stdout))} == {anna, novak}
    assert gone not in plain.stdout

    missing = runner.invoke(app, ["segments", "export", "shop", "999", "--with-profile", *db])
    assert missing.exit_code == 1 and missing.stdout == ""
