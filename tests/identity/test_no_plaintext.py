"""Known e-mails and phones go in through every door; none is found in plaintext in the raw
SQLite files (database and WAL), in a pg_dump of the test schema, or in the logs."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from shoptrack.config import Settings
from tests.support.identity import (
    auth,
    customer_data,
    drain,
    post_contacts,
    product_view,
    send_browser,
    services_of,
)
from tests.support.payloads import browser_event, rest_body

EMAILS = ["Secret.Shopper@Example.org", "zoe.private@mail-test.net", "ivan@bücher-test.de"]
PHONES = [("+380 50 765 43 21", "+380507654321"), ("+1 415 555 2671", "+14155552671")]
NAMES = ["Wilhelmina", "Bartholomew"]


def _needles() -> list[bytes]:
    values = [*EMAILS, *(e.lower() for e in EMAILS), "ivan@xn--bcher-test-9db.de", *NAMES]
    for sent, e164 in PHONES:
        values += [sent, e164, e164.lstrip("+")]
    out: list[bytes] = []
    for value in values:
        raw = value.encode()
        out += [raw, raw.hex().encode()]  # bytea in a dump is hex: look for that too
    return out


def _store_everything(client: TestClient, site_id: str, key: str) -> None:
    rows = [
        {"email": EMAILS[0], "phone": PHONES[0][0], "firstName": NAMES[0]},
        {
            "externalCustomerId": "P-2",
            "email": EMAILS[1],
            "lastName": NAMES[1],
            "fields": {"note": EMAILS[1]},
        },
    ]
    assert post_contacts(client, key, {"contacts": rows}).status_code == 200
    send_browser(client, site_id, "anon", product_view("P1"))
    send_browser(
        client, site_id, "anon", customer_data(user_email=EMAILS[2], user_phone=PHONES[1][0])
    )
    send_browser(
        client,
        site_id,
        "anon2",
        browser_event(
            "ProductPage",
            {"GeneralInfo": {"user_email": EMAILS[1]}, "ProductPage": {"productKey": "P2"}},
        ),
    )
    rest = rest_body(site_id, "CustomerData", {"CustomerData": {"user_phone": PHONES[0][0]}})
    assert client.post("/api/v2", json=rest).status_code == 200
    # Refused events keep their body (encrypted): one that carries an e-mail.
    bad = rest_body(site_id, "StatusCart", {"StatusCart": {"user_email": EMAILS[0]}})
    assert client.post("/api/v2", json=bad).status_code == 400
    drain(client)
    for email in EMAILS:
        found = client.get("/api/v1/contacts", params={"email": email}, headers=auth(key))
        assert found.json()["contacts"], email


def _assert_clean(blob: bytes, where: str) -> None:
    lowered = blob.lower()
    for needle in _needles():
        assert needle.lower() not in lowered, f"{needle!r} in {where}"


def test_no_plaintext_personal_data_at_rest_or_in_logs(
    client: TestClient,
    site: tuple[str, str],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    site_id, key = site
    caplog.set_level(logging.DEBUG)
    _store_everything(client, site_id, key)
    engine = services_of(client).engine
    url = settings.database_url
    if url.startswith("sqlite"):
        db = Path(url.removeprefix("sqlite:///"))
        files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
        raw = b"".join(p.read_bytes() for p in files if p.exists())
        assert len(raw) > 10_000
        _assert_clean(raw, "the SQLite files before checkpoint")
        with engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        _assert_clean(db.read_bytes(), "the SQLite file after checkpoint")
    else:
        dump = _pg_dump(url)
        assert b"CREATE TABLE" in dump and b"contacts" in dump
        _assert_clean(dump, "pg_dump")
    logged = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
    ).encode()
    _assert_clean(logged, "the logs")
    # The data is really there, encrypted: the export decrypts it.
    cid = client.get("/api/v1/contacts", params={"email": EMAILS[0]}, headers=auth(key)).json()
    export = client.get(
        f"/api/v1/contacts/{cid['contacts'][0]['id']}/export", headers=auth(key)
    ).content
    assert orjson.loads(export)["contact"]["firstName"] == NAMES[0]


def _pg_dump(url: str) -> bytes:
    binary = shutil.which("pg_dump")
    assert binary, "pg_dump is required for this test"
    parts = urlsplit(url)
    options = parse_qs(parts.query).get("options", [""])[0]
    schema = unquote(options).split("search_path=", 1)[1]
    base = parts._replace(query="").geturl()
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    done = subprocess.run(
        [binary, "--dbname", base, "-n", schema, "--no-owner"],
        capture_output=True,
        check=True,
        env=env,
        timeout=120,
    )
    return done.stdout
