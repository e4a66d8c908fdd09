"""Contacts (``/admin/sites/{site}/contacts``) on both stores: the newest first, a search
through the blind index by POST, a contact's profile, devices and timeline, export, and
erasure after a confirmation (CSRF-checked), then gone from the search and the list."""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient

from tests.support.admin import AdminClient, admin_client_for, csrf_of
from tests.support.identity import (
    auth,
    customer_data,
    drain,
    post_contacts,
    product_view,
    send_browser,
)


def _contact(client: TestClient, key: str, **fields: str) -> str:
    answer = post_contacts(client, key, fields)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["contact"]["id"])


def _search(admin: AdminClient, value: str, kind: str = "") -> httpx.Response:
    page = admin.get(f"/admin/sites/{admin.site_id}/contacts").text
    return admin.post(
        f"/admin/sites/{admin.site_id}/contacts",
        data={"q": value, "kind": kind, "csrf_token": csrf_of(page)},
    )


def test_newest_first_and_search_by_any_identifier(
    client: TestClient, site: tuple[str, str], admin_client: AdminClient
) -> None:
    key = site[1]
    older = _contact(client, key, email="first@example.com", externalCustomerId="C-1")
    newer = _contact(client, key, email="second@example.com", phone="+16502530000")
    listing = admin_client.get(f"/admin/sites/{site[0]}/contacts")
    assert listing.status_code == 200
    assert listing.text.index(newer) < listing.text.index(older)
    assert "second@example.com" in listing.text  # decrypted for the rows shown

    for value, kind in (
        (" SECOND@example.com", ""),
        ("+1 650-253-0000", ""),
        ("+16502530000", "phone"),
    ):
        found = _search(admin_client, value, kind)
        assert found.status_code == 200, found.text
        assert newer in found.text and older not in found.text, value
    by_external = _search(admin_client, "C-1", "externalCustomerId")
    assert older in by_external.text and newer not in by_external.text
    nobody = _search(admin_client, "nobody@example.com")
    assert "No contact of this site" in nobody.text
    wrong_kind = _search(admin_client, "C-1", "email")
    assert wrong_kind.status_code == 400 and "e-mail" in wrong_kind.text
    # The value searched for is PII: it goes in the POST body, never the URL.
    assert "first@example.com" not in str(by_external.request.url)


def test_search_without_csrf_is_refused(
    client: TestClient, site: tuple[str, str], admin_client: AdminClient
) -> None:
    answer = admin_client.post(f"/admin/sites/{site[0]}/contacts", data={"q": "anyone@example.com"})
    assert answer.status_code == 403


def test_contact_page_devices_timeline_and_export(
    client: TestClient, site: tuple[str, str], admin_client: AdminClient
) -> None:
    site_id, key = site
    cid = _contact(client, key, email="ann@example.com", firstName="Ann", lastName="Lee")
    send_browser(client, site_id, "v-phone", product_view("PHONE-P"))
    send_browser(client, site_id, "v-phone", customer_data(user_email="ann@example.com"))
    send_browser(client, site_id, "v-laptop", product_view("LAPTOP-P"))
    send_browser(client, site_id, "v-laptop", customer_data(user_email="ann@example.com"))
    drain(client)

    page = admin_client.get(f"/admin/sites/{site_id}/contacts/{cid}")
    assert page.status_code == 200, page.text
    assert "ann@example.com" in page.text and "Ann" in page.text and "Lee" in page.text
    assert "v-phone" in page.text and "v-laptop" in page.text
    timeline = re.findall(r"<summary>#(\d+)</summary>", page.text)
    assert len(timeline) == 4 and "PHONE-P" in page.text and "LAPTOP-P" in page.text

    export = admin_client.get(f"/admin/sites/{site_id}/contacts/{cid}/export")
    assert export.status_code == 200
    assert export.headers["content-disposition"] == f'attachment; filename="contact-{cid}.json"'
    assert export.headers["cache-control"] == "no-store"
    api = client.get(f"/api/v1/contacts/{cid}/export", headers=auth(key))
    assert export.json() == api.json()
    assert admin_client.get(f"/admin/sites/{site_id}/contacts/ct_nobody").status_code == 404


def test_erase_asks_then_erases(
    client: TestClient, site: tuple[str, str], admin_client: AdminClient
) -> None:
    site_id, key = site
    cid = _contact(client, key, email="gone@example.com")
    kept = _contact(client, key, email="kept@example.com")
    send_browser(client, site_id, "v-gone", customer_data(user_email="gone@example.com"))
    drain(client)
    contact_page = admin_client.get(f"/admin/sites/{site_id}/contacts/{cid}").text
    confirm_path = f"/admin/sites/{site_id}/contacts/{cid}/erase"
    assert f'href="{confirm_path}"' in contact_page

    confirm = admin_client.get(confirm_path)
    assert confirm.status_code == 200
    assert f'<form method="post" action="{confirm_path}">' in confirm.text
    # Without the form's token nothing happens.
    refused = admin_client.post(confirm_path, data={})
    assert refused.status_code == 403
    assert admin_client.get(f"/admin/sites/{site_id}/contacts/{cid}").status_code == 200

    done = admin_client.post(confirm_path, data={"csrf_token": csrf_of(confirm.text)})
    assert done.status_code == 303
    report = admin_client.get(done.headers["location"])
    assert report.status_code == 200 and "Contact erased" in report.text
    assert "Devices unlinked" in report.text and "gone@example.com" not in report.text

    assert admin_client.get(f"/admin/sites/{site_id}/contacts/{cid}").status_code == 404
    assert cid not in _search(admin_client, "gone@example.com").text
    listing = admin_client.get(f"/admin/sites/{site_id}/contacts").text
    assert cid not in listing and kept in listing
    api = client.get(f"/api/v1/contacts/{cid}", headers=auth(key))
    assert api.status_code == 404


def test_a_user_of_another_site_cannot_see_or_erase(
    client: TestClient, site: tuple[str, str], admin_client: AdminClient
) -> None:
    site_id, key = site
    cid = _contact(client, key, email="private@example.com")
    services = client.app.state.services  # type: ignore[attr-defined]
    other, _ = services.site_repo.create("Other shop")
    outsider = admin_client_for(client, other.site_id, "outsider@example.com")
    base = f"/admin/sites/{site_id}/contacts/{cid}"
    for path in (base, base + "/export", base + "/erase", f"/admin/sites/{site_id}/contacts"):
        assert outsider.get(path).status_code == 404, path
    token = csrf_of(outsider.get(f"/admin/sites/{other.site_id}/contacts").text)
    assert outsider.post(base + "/erase", data={"csrf_token": token}).status_code == 404
    # Nor through their own site's pages: the contact is not theirs.
    own = f"/admin/sites/{other.site_id}/contacts/{cid}"
    assert outsider.get(own).status_code == 404
    assert outsider.post(own + "/erase", data={"csrf_token": token}).status_code == 404
    assert admin_client.get(base).status_code == 200
