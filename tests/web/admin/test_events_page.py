"""Live events (``/admin/sites/{site}/events``) on both stores: newest first, filters by type,
visitor and contact, the seq cursor, "live" reloads, and never a decrypted identity."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.support.admin import AdminClient, admin_client_for
from tests.support.identity import customer_data, drain, product_view, send_browser
from tests.support.payloads import browser_event


def _seqs(page: str) -> list[int]:
    return [int(s) for s in re.findall(r"<summary>#(\d+)</summary>", page)]


def _events(admin: AdminClient, **params: str) -> str:
    answer = admin.get(f"/admin/sites/{admin.site_id}/events", params=params)
    assert answer.status_code == 200, answer.text
    return answer.text


def test_newest_first_filters_narrow_and_identities_stay_encrypted(
    client: TestClient, admin_client: AdminClient
) -> None:
    site_id = admin_client.site_id
    send_browser(client, site_id, "v-ann", product_view("P1"), product_view("P2"))
    send_browser(client, site_id, "v-bob", browser_event("MainPage"))
    send_browser(client, site_id, "v-ann", customer_data(user_email="ann.secret@example.com"))
    drain(client)

    page = _events(admin_client)
    seqs = _seqs(page)
    assert len(seqs) == 4 and seqs == sorted(seqs, reverse=True)
    assert "ann.secret" not in page  # the identity is stored encrypted and never shown
    assert "&#34;type&#34;: &#34;ProductPage&#34;" in page  # the canonical JSON, pretty
    assert '<meta http-equiv="refresh"' not in page

    products = _events(admin_client, type="ProductPage")
    assert len(_seqs(products)) == 2 and "P2" in products and "MainPage</td>" not in products
    bob = _events(admin_client, visitor="v-bob")
    assert len(_seqs(bob)) == 1 and "MainPage" in bob
    # The contact's events: every event of its visitors, from before it was identified too.
    contact_id = client.app.state.services.identity.contacts.find_id(  # type: ignore[attr-defined]
        site_id, "email", "ann.secret@example.com"
    )
    ann = _events(admin_client, contact=contact_id)
    assert _seqs(ann) == [s for s in seqs if s != _seqs(bob)[0]]
    assert f"/contacts/{contact_id}" in ann  # rows link the visitor's contact
    both = _events(admin_client, contact=contact_id, type="ProductPage")
    assert len(_seqs(both)) == 2
    missing = _events(admin_client, contact="ct_nobody")
    assert _seqs(missing) == [] and "no contact" in missing
    # Unknown values are no filter at all rather than an error page.
    assert len(_seqs(_events(admin_client, type="Nonsense", before="x"))) == 4


def test_the_cursor_pages_through_older_events(
    client: TestClient, admin_client: AdminClient
) -> None:
    site_id = admin_client.site_id
    for batch in range(6):
        send_browser(
            client, site_id, f"v{batch}", *[product_view(f"K{batch}-{n}") for n in range(10)]
        )
    first = _events(admin_client, type="ProductPage")
    older = re.search(r'href="([^"]+)" rel="next">Older', first)
    assert older is not None and "type=ProductPage" in older.group(1)
    second = admin_client.get(older.group(1).replace("&amp;", "&")).text
    assert len(_seqs(first)) == 50 and len(_seqs(second)) == 10
    assert min(_seqs(first)) > max(_seqs(second))
    assert 'rel="next">Older' not in second and ">Newest</a>" in second


def test_live_reloads_the_newest_page_only(client: TestClient, admin_client: AdminClient) -> None:
    send_browser(client, admin_client.site_id, "v1", product_view("P1"))
    live = _events(admin_client, live="1")
    assert '<meta http-equiv="refresh" content="5">' in live
    assert 'name="live" value="1" checked' in live
    assert '<meta http-equiv="refresh"' not in _events(admin_client, live="1", before="1")


def test_other_sites_and_signed_out_visitors_see_nothing(
    client: TestClient, admin_client: AdminClient
) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    other, _ = services.site_repo.create("Other shop")
    send_browser(client, other.site_id, "v-other", product_view("SECRET-P"))
    assert "SECRET-P" not in _events(admin_client)
    for area in ("events", "rejected", "contacts"):
        answer = admin_client.get(f"/admin/sites/{other.site_id}/{area}")
        assert answer.status_code == 404, area
    outsider = admin_client_for(client, other.site_id, "outsider@example.com")
    assert outsider.get(f"/admin/sites/{admin_client.site_id}/events").status_code == 404
    anonymous = TestClient(client.app, base_url="https://testserver", follow_redirects=False)
    answer = anonymous.get(f"/admin/sites/{admin_client.site_id}/events")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/admin/login")
