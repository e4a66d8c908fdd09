"""Rejected events (``/admin/sites/{site}/rejected``) on both stores: reason, step, field and
the body as sent, decrypted for the site's users only; filters by code and step."""

from __future__ import annotations

import re

import orjson
from fastapi.testclient import TestClient

from tests.support.admin import AdminClient
from tests.support.identity import send_browser
from tests.support.payloads import browser_event, webevent_body


def _rows(page: str) -> int:
    return len(re.findall(r"<summary>[\d,]+ bytes</summary>", page))


def test_refusals_show_reason_step_field_and_the_body_decrypted(
    client: TestClient, admin_client: AdminClient
) -> None:
    site_id = admin_client.site_id
    send_browser(
        client,
        site_id,
        "v1",
        browser_event("NoSuchEvent", {"user_email": "dev.test@example.com"}),
        browser_event("ProductPage", {"ProductPage": {"productKey": "P1", "price": "ten"}}),
        browser_event("MainPage"),
    )
    # A body that is not JSON at all, refused whole.
    client.post("/webevent", content=b"{not json", headers={"Content-Type": "text/plain"})
    # Another site's refusal stays on its own page.
    services = client.app.state.services  # type: ignore[attr-defined]
    other, _ = services.site_repo.create("Other shop")
    client.post(
        "/webevent",
        content=orjson.dumps(webevent_body(other.site_id, browser_event("Other-Secret"))),
        headers={"Content-Type": "text/plain"},
    )

    page = admin_client.get(f"/admin/sites/{site_id}/rejected")
    assert page.status_code == 200, page.text
    text = page.text
    assert _rows(text) == 2  # the unparsable body names no site: not this site's to see
    assert "unknown_event" in text and "invalid_value" in text
    assert "<code>type</code>" in text and "<code>webevent</code>" in text
    assert "dev.test@example.com" in text  # decrypted, for a user of this site
    assert "&#34;user_email&#34;: &#34;dev.test@example.com&#34;" in text  # pretty JSON
    assert "Other-Secret" not in text

    only = admin_client.get(f"/admin/sites/{site_id}/rejected", params={"code": "unknown_event"})
    assert _rows(only.text) == 1 and "dev.test@example.com" in only.text
    steps = admin_client.get(f"/admin/sites/{site_id}/rejected", params={"step": "type"})
    assert _rows(steps.text) == 1
    none = admin_client.get(f"/admin/sites/{site_id}/rejected", params={"step": "auth"})
    assert _rows(none.text) == 0 and "match these filters" in none.text


def test_the_cursor_pages_through_older_refusals(
    client: TestClient, admin_client: AdminClient
) -> None:
    for n in range(6):
        send_browser(
            client,
            admin_client.site_id,
            f"v{n}",
            *[browser_event(f"Bad{n}x{m}") for m in range(10)],
            browser_event("MainPage"),
        )
    first = admin_client.get(f"/admin/sites/{admin_client.site_id}/rejected").text
    older = re.search(r'href="([^"]+)" rel="next">Older', first)
    assert older is not None and _rows(first) == 50
    second = admin_client.get(older.group(1).replace("&amp;", "&")).text
    assert _rows(second) == 10 and "Bad0x0" in second and "Bad0x0" not in first
