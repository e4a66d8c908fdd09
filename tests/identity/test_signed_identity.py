"""Issue 13 point 10: a browser cannot attach itself to someone else's contact.

Anonymous ``CustomerData`` with a victim's e-mail used to link the sender's visitor to the
victim's contact (the sender's events in the victim's history). With the site's identity secret
and ``require_signed_identity``, only identities the shop's server signed (``user_hash``) link.
Over HTTP, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from shoptrack.cli.main import app as cli_app
from shoptrack.identity.crypto import Keyring
from shoptrack.identity.rotation import key_usage
from shoptrack.identity.signing import load_identity_secret, sign
from shoptrack.store.sites_repo import SiteRepository
from shoptrack.store.tables import sites
from tests.support.identity import (
    auth,
    customer_data,
    drain,
    post_contacts,
    product_view,
    send_browser,
    services_of,
)
from tests.support.payloads import rest_body

VICTIM = "victim@example.com"
VICTIM_PHONE = "+380501112233"
ATTACKER = "attacker@example.com"


def _configure(client: TestClient, key: str, **changes: Any) -> dict[str, Any]:
    response = client.patch("/api/v1/site/settings", json=changes, headers=auth(key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _require_signing(client: TestClient, key: str) -> str:
    body = _configure(client, key, identity_secret="new", require_signed_identity=True)
    assert body["settings"]["require_signed_identity"] is True
    secret: str = body["identity_secret"]
    return secret


def _contact(client: TestClient, key: str, email: str) -> dict[str, Any] | None:
    found = client.get("/api/v1/contacts", params={"email": email}, headers=auth(key)).json()
    contacts: list[dict[str, Any]] = found["contacts"]
    assert len(contacts) <= 1
    return contacts[0] if contacts else None


def _history_products(client: TestClient, key: str, contact_id: str) -> list[str]:
    events = client.get(f"/api/v1/contacts/{contact_id}/events", headers=auth(key)).json()
    return sorted(
        p["key"] for e in events["events"] if e["type"] == "ProductPage" for p in e["products"]
    )


def _victim_with_history(client: TestClient, site: tuple[str, str], secret: str) -> str:
    """The victim: a contact from the shop, a signed-in browser with one product view."""
    site_id, key = site
    assert post_contacts(client, key, {"email": VICTIM, "phone": VICTIM_PHONE}).status_code == 200
    send_browser(client, site_id, "victim-v", product_view("VICTIM-P"))
    send_browser(
        client,
        site_id,
        "victim-v",
        customer_data(user_email=VICTIM, user_hash=sign(secret, VICTIM)),
    )
    drain(client)
    contact = _contact(client, key, VICTIM)
    assert contact is not None
    assert [v["visitor_id"] for v in contact["visitors"]] == ["victim-v"]
    contact_id: str = contact["id"]
    return contact_id


def test_an_unsigned_identity_does_not_join_a_contact_when_signing_is_required(
    client: TestClient, site: tuple[str, str]
) -> None:
    site_id, key = site
    secret = _require_signing(client, key)
    victim_id = _victim_with_history(client, site, secret)
    # The attack: an anonymous browser claims the victim's e-mail (and then her phone).
    send_browser(client, site_id, "attacker-v", product_view("ATTACKER-P"))
    send_browser(client, site_id, "attacker-v", customer_data(user_email=VICTIM))
    send_browser(client, site_id, "attacker-v", customer_data(user_phone=VICTIM_PHONE))
    send_browser(
        client,
        site_id,
        "attacker-v",
        product_view("ATTACKER-Q"),
        general={"user_email": VICTIM, "externalCustomerId": "victim-ext"},
    )
    drain(client)
    contact = _contact(client, key, VICTIM)
    assert contact is not None and contact["id"] == victim_id
    assert [v["visitor_id"] for v in contact["visitors"]] == ["victim-v"]
    assert _history_products(client, key, victim_id) == ["VICTIM-P"]
    # Nor did the claims make contacts (one would link the victim's next signed visit).
    listed = client.get("/api/v1/contacts", headers=auth(key)).json()["contacts"]
    assert [c["id"] for c in listed] == [victim_id]
    assert services_of(client).runner  # the processors ran (drain) over every event


def test_without_the_requirement_the_old_behaviour_holds(
    client: TestClient, site: tuple[str, str]
) -> None:
    """Sites that do not turn signing on are linked as before (no signature needed)."""
    site_id, key = site
    send_browser(client, site_id, "anyone", product_view("P-1"))
    send_browser(client, site_id, "anyone", customer_data(user_email=ATTACKER))
    drain(client)
    contact = _contact(client, key, ATTACKER)
    assert contact is not None
    assert [v["visitor_id"] for v in contact["visitors"]] == ["anyone"]


def test_a_valid_signature_links_the_visitor_and_its_earlier_events(
    client: TestClient, site: tuple[str, str]
) -> None:
    site_id, key = site
    secret = _require_signing(client, key)
    victim_id = _victim_with_history(client, site, secret)
    # The same person on a second device: first an unsigned claim, later a signed login.
    send_browser(client, site_id, "laptop", product_view("LAPTOP-P"))
    send_browser(client, site_id, "laptop", customer_data(user_email=VICTIM))
    drain(client)
    assert _history_products(client, key, victim_id) == ["VICTIM-P"]
    signed = customer_data(user_email=VICTIM, user_hash=sign(secret, VICTIM).upper())
    send_browser(client, site_id, "laptop", signed)
    drain(client)
    contact = _contact(client, key, VICTIM)
    assert contact is not None
    assert sorted(v["visitor_id"] for v in contact["visitors"]) == ["laptop", "victim-v"]
    assert _history_products(client, key, victim_id) == ["LAPTOP-P", "VICTIM-P"]
    # A new signed customer becomes a contact of its own; a name rides along, a hash does not.
    fields = {"user_email": ATTACKER, "user_name": "Ann", "user_hash": sign(secret, ATTACKER)}
    send_browser(client, site_id, "new-v", customer_data(**fields))
    drain(client)
    created = _contact(client, key, ATTACKER)
    assert created is not None and created["firstName"] == "Ann"
    assert "hash" not in created.get("fields", {})


def test_a_wrong_signature_is_a_claim_whether_or_not_signing_is_required(
    client: TestClient, site: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    site_id, key = site
    body = _configure(client, key, identity_secret="new")
    secret = body["identity_secret"]
    assert body["settings"].get("require_signed_identity") is None
    wrong = [
        sign("not-the-secret", ATTACKER),
        sign(secret, ATTACKER + " "),  # signed another value
        "zz",
        12,
    ]
    for n, user_hash in enumerate(wrong):
        send_browser(
            client, site_id, f"v{n}", customer_data(user_email=ATTACKER, user_hash=user_hash)
        )
    with caplog.at_level("WARNING", logger="shoptrack.identity.linking"):
        drain(client)
    assert _contact(client, key, ATTACKER) is None
    reasons = [r.getMessage() for r in caplog.records if "user_hash" in r.getMessage()]
    assert len(reasons) == len(wrong) and all("kept as a claim" in r for r in reasons)
    assert all(ATTACKER not in r for r in reasons)  # the reason names no personal data


def test_a_signed_e_mail_cannot_carry_an_unsigned_phone_into_someone_elses_contact(
    client: TestClient, site: tuple[str, str]
) -> None:
    site_id, key = site
    secret = _require_signing(client, key)
    victim_id = _victim_with_history(client, site, secret)
    mixed = customer_data(
        user_email=ATTACKER, user_phone=VICTIM_PHONE, user_hash=sign(secret, ATTACKER)
    )
    send_browser(client, site_id, "attacker-v", product_view("ATTACKER-P"), mixed)
    drain(client)
    attacker = _contact(client, key, ATTACKER)
    assert attacker is not None and attacker["id"] != victim_id
    assert attacker.get("phone") is None
    assert _history_products(client, key, victim_id) == ["VICTIM-P"]


def test_identities_sent_with_the_api_key_need_no_signature_keyless_ones_do(
    client: TestClient, site: tuple[str, str]
) -> None:
    site_id, key = site
    _require_signing(client, key)
    keyless = rest_body(site_id, "CustomerData", {"CustomerData": {"user_email": VICTIM}})
    keyless["GeneralInfo"]["cookies"] = {"sc": "keyless-v"}
    # A payload cannot claim to have come with the key.
    keyless["CustomerData"]["_api_key"] = True
    assert client.post("/api/v2", json=keyless).status_code == 200
    drain(client)
    assert _contact(client, key, VICTIM) is None
    server = rest_body(site_id, "CustomerData", {"CustomerData": {"user_email": VICTIM}})
    server["GeneralInfo"]["cookies"] = {"sc": "server-v"}
    assert client.post("/api/v2", json=server, headers=auth(key)).status_code == 200
    drain(client)
    contact = _contact(client, key, VICTIM)
    assert contact is not None
    assert [v["visitor_id"] for v in contact["visitors"]] == ["server-v"]


def test_the_secret_is_shown_once_stored_encrypted_and_replaced_on_request(
    client: TestClient, site: tuple[str, str]
) -> None:
    site_id, key = site
    refused = client.patch(
        "/api/v1/site/settings", json={"require_signed_identity": True}, headers=auth(key)
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["field"] == "require_signed_identity"
    bad = client.patch("/api/v1/site/settings", json={"identity_secret": "mine"}, headers=auth(key))
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "identity_secret"
    shown = client.get("/api/v1/site/settings", headers=auth(key)).json()
    assert shown["identity_secret_set"] is False and "identity_secret" not in shown

    first = _require_signing(client, key)
    assert len(first) == 64
    shown = client.get("/api/v1/site/settings", headers=auth(key)).json()
    assert shown["identity_secret_set"] is True and "identity_secret" not in shown
    assert first not in str(shown)
    with services_of(client).engine.connect() as conn:
        stored = conn.execute(
            select(sites.c.identity_secret_enc).where(sites.c.site_id == site_id)
        ).scalar_one()
    assert first.encode() not in bytes(stored)

    second = _configure(client, key, identity_secret="new")["identity_secret"]
    assert second != first
    # Pages signed with the replaced secret no longer link.
    send_browser(
        client, site_id, "old-page", customer_data(user_email=VICTIM, user_hash=sign(first, VICTIM))
    )
    drain(client)
    assert _contact(client, key, VICTIM) is None
    send_browser(
        client,
        site_id,
        "new-page",
        customer_data(user_email=VICTIM, user_hash=sign(second, VICTIM)),
    )
    drain(client)
    assert _contact(client, key, VICTIM) is not None


def test_cli_makes_the_secret_and_key_rotation_keeps_it_usable(
    tmp_path: Path, database_url: str, engine: Engine
) -> None:
    site, _ = SiteRepository(engine).create("CLI shop")
    runner = CliRunner()
    key_file = tmp_path / "cli.keys"
    env = {"SHOPTRACK_KEY_FILE": str(key_file), "SHOPTRACK_DATABASE_URL": database_url}
    refused = runner.invoke(
        cli_app, ["sites", "configure", site.site_id, "--require-signed-identity"], env=env
    )
    assert refused.exit_code == 1 and "identity secret" in refused.output
    made = runner.invoke(
        cli_app,
        [
            "sites",
            "configure",
            site.site_id,
            "--identity-secret",
            "new",
            "--require-signed-identity",
        ],
        env=env,
    )
    assert made.exit_code == 0, made.output
    shown = orjson.loads(made.stdout.strip().splitlines()[-1])
    secret = shown["identity_secret"]
    assert shown["settings"] == {"require_signed_identity": True} and shown["identity_secret_set"]
    again = runner.invoke(cli_app, ["sites", "configure", site.site_id], env=env)
    assert secret not in again.output and '"identity_secret_set":true' in again.output

    rotated = runner.invoke(cli_app, ["keys", "rotate"], env=env)
    assert rotated.exit_code == 0, rotated.output
    ring = Keyring.load(key_file)
    assert ring.active_id == "k2" and set(ring.keys) == {"k2"}
    assert set(key_usage(engine)["sites.identity_secret_enc"]) == {"k2"}
    with engine.connect() as conn:
        assert load_identity_secret(conn, ring, site.site_id) == secret


def test_a_keyless_event_without_a_cookie_cannot_join_the_servers_visitor_of_that_person(
    client: TestClient, site: tuple[str, str]
) -> None:
    """Events with no cookie get a visitor derived from their identity: the key's and the
    keyless ones must differ, or a forged event would sit in the person's history."""
    site_id, key = site
    _require_signing(client, key)
    server = rest_body(site_id, "CustomerData", {"CustomerData": {"user_email": VICTIM}})
    del server["GeneralInfo"]["cookies"]
    assert client.post("/api/v2", json=server, headers=auth(key)).status_code == 200
    forged = rest_body(
        site_id,
        "ProductPage",
        {"ProductPage": {"productKey": "FORGED-P"}, "CustomerData": {"user_email": VICTIM}},
    )
    del forged["GeneralInfo"]["cookies"]
    assert client.post("/api/v2", json=forged).status_code == 200
    drain(client)
    contact = _contact(client, key, VICTIM)
    assert contact is not None and len(contact["visitors"]) == 1
    assert _history_products(client, key, contact["id"]) == []
