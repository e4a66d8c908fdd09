"""Every link on the Live events, Rejected and Contacts pages leads somewhere (no 404s, no
errors): filters, cursors, contact pages, export, the erase confirmation."""

from __future__ import annotations

import re
from html import unescape

from fastapi.testclient import TestClient

from tests.support.admin import AdminClient
from tests.support.identity import customer_data, drain, post_contacts, product_view, send_browser
from tests.support.payloads import browser_event

_HREF = re.compile(r'href="([^"]+)"')


def test_every_link_answers(
    client: TestClient, site: tuple[str, str], admin_client: AdminClient
) -> None:
    site_id, key = site
    post_contacts(client, key, {"email": "links@example.com"})
    for n in range(3):
        send_browser(client, site_id, f"v{n}", *[product_view(f"P{n}-{m}") for m in range(20)])
    send_browser(
        client, site_id, "v0", customer_data(user_email="links@example.com"), browser_event("X")
    )
    drain(client)
    base = f"/admin/sites/{site_id}"
    pages = [f"{base}/events", f"{base}/events?live=1", f"{base}/rejected", f"{base}/contacts"]
    contact = re.search(
        r'href="(/admin/sites/[^"]+/contacts/ct_[^"/]+)"', admin_client.get(f"{base}/contacts").text
    )
    assert contact is not None
    pages.append(contact.group(1))
    seen: set[str] = set()
    for page in pages:
        answer = admin_client.get(page)
        assert answer.status_code == 200, page
        for href in _HREF.findall(answer.text):
            link = unescape(href)
            if link in seen or not link.startswith("/"):
                continue
            seen.add(link)
            followed = admin_client.get(link)
            assert followed.status_code == 200, (page, link, followed.status_code)
    assert any("before=" in link for link in seen)  # the cursor links were followed too
    assert any(link.endswith("/export") for link in seen)
    assert any(link.endswith("/erase") for link in seen)
