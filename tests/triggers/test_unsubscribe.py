"""Unsubscribe tokens and the public /unsubscribe/{token} endpoint, on both stores."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from shoptrack.identity.crypto import Keyring
from shoptrack.services import Services
from shoptrack.triggers.model import Channel
from shoptrack.triggers.unsubscribe import (
    Unsubscribe,
    is_unsubscribed,
    make_token,
    make_unsubscribe_url,
    verify_token,
)


def test_a_token_names_its_contact_and_channel_and_cannot_be_forged(tmp_path: Path) -> None:
    keyring = Keyring.load_or_create(tmp_path / "keys")
    token = make_token(keyring, "site-1", "c-1", Channel.EMAIL)
    assert verify_token(keyring, token) == Unsubscribe("site-1", "c-1", Channel.EMAIL)
    assert make_token(keyring, "site-1", "c-1", Channel.WEBHOOK) != token
    payload, mac = token.split(".")
    other = make_token(keyring, "site-1", "c-2", Channel.EMAIL).split(".")[0]
    assert verify_token(keyring, f"{other}.{mac}") is None  # another contact, same MAC
    assert verify_token(keyring, f"{payload}.{'0' * len(mac)}") is None
    assert verify_token(keyring, payload) is None and verify_token(keyring, "") is None
    assert verify_token(Keyring.generate(), token) is None  # another installation's key
    # Rotation adds data keys; links in mail already sent keep working.
    assert verify_token(keyring.with_new_key(), token) is not None
    url = make_unsubscribe_url("https://t.example/", keyring, "site-1", "c-1", Channel.EMAIL)
    assert url == f"https://t.example/unsubscribe/{token}"


def test_the_page_asks_and_the_post_records_without_an_api_key(
    client: TestClient, site: tuple[str, str]
) -> None:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    site_id, _ = site
    path = "/unsubscribe/" + make_token(services.keyring, site_id, "c-7", Channel.EMAIL)

    page = client.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<form method="post">' in page.text
    # Following the link (a mail scanner does) unsubscribes nobody.
    assert not is_unsubscribed(services.engine, site_id, "c-7", Channel.EMAIL)

    for _ in range(2):  # one-click twice: the same answer, one row
        done = client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200 and "unsubscribed" in done.text
    assert is_unsubscribed(services.engine, site_id, "c-7", Channel.EMAIL)
    assert not is_unsubscribed(services.engine, site_id, "c-7", Channel.WEBHOOK)
    assert not is_unsubscribed(services.engine, site_id, "c-8", Channel.EMAIL)


def test_a_bad_token_is_a_404_in_the_error_shape_and_existence_is_not_revealed(
    client: TestClient, site: tuple[str, str]
) -> None:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    site_id, _ = site
    good = make_token(services.keyring, site_id, "c-1", Channel.EMAIL)
    for bad in (good[:-1] + ("0" if good[-1] != "0" else "1"), "x", "a.b", "." * 600):
        for method in ("GET", "POST"):
            answer = client.request(method, f"/unsubscribe/{bad}")
            assert answer.status_code == 404
            assert answer.json() == {
                "error": {"code": "not_found", "message": "no such unsubscribe link",
                          "field": "token"}
            }  # fmt: skip
    # A contact nobody knows answers like a known one: the token is the only authority.
    unknown = make_token(services.keyring, site_id, "no-such-contact", Channel.EMAIL)
    assert client.post(f"/unsubscribe/{unknown}").status_code == 200
