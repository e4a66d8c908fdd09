"""The dashboard's segment pages: build with a form, preview, members, history, delete."""

from __future__ import annotations

import orjson
from fastapi.testclient import TestClient

from tests.support.admin import AdminClient, admin_client_for
from tests.support.identity import customer_data, drain, post_contacts, product_view, send_browser

VIEWERS = orjson.dumps({"version": 1, "match": {"condition": "event", "event": "viewed"}}).decode()


def _shop(client: TestClient, site: tuple[str, str]) -> str:
    site_id, key = site
    contact = post_contacts(client, key, {"email": "ann@example.com"}).json()["contact"]["id"]
    send_browser(
        client, site_id, "v-ann", customer_data(user_email="ann@example.com"), product_view("p1")
    )
    send_browser(client, site_id, "v-anon", product_view("p1"))
    drain(client)
    return str(contact)


def test_a_segment_is_previewed_built_shown_changed_and_deleted(
    client: TestClient, site: tuple[str, str], admin_client: AdminClient
) -> None:
    contact = _shop(client, site)
    base = f"/admin/sites/{site[0]}/segments"
    page = admin_client.get(base)
    assert page.status_code == 200 and "<h1>Segments</h1>" in page.text
    assert 'href="' + base + '"' in page.text  # the navigation names the area
    preview = admin_client.submit(base + "/preview", {"name": "Viewers", "definition": VIEWERS})
    assert preview.status_code == 200
    assert "<strong>2</strong> people match now" in preview.text
    bad = admin_client.submit(
        base, {"name": "Bad", "definition": '{"match": {"condition": "mood"}}'}
    )
    assert bad.status_code == 400 and "mood" in bad.text and 'aria-invalid="true"' in bad.text
    broken = admin_client.submit(base, {"name": "Bad", "definition": "{not json"})
    assert broken.status_code == 400 and "not valid JSON" in broken.text
    made = admin_client.submit(base, {"name": "Viewers", "definition": VIEWERS})
    assert made.status_code == 303
    detail = admin_client.get(made.headers["location"])
    assert detail.status_code == 200
    assert "Segment: Viewers" in detail.text and contact in detail.text
    assert "<svg" in detail.text and "entered" in detail.text
    wrong_hook = admin_client.submit(
        made.headers["location"],
        {"name": "Viewers", "definition": VIEWERS, "webhook_url": "ftp://x"},
    )
    assert wrong_hook.status_code == 400 and "webhook_url" in wrong_hook.text
    renamed = admin_client.submit(
        made.headers["location"],
        {"name": "Product viewers", "definition": VIEWERS, "webhook_url": ""},
    )
    assert renamed.status_code == 303
    assert "Product viewers" in admin_client.get(base).text
    confirm = admin_client.get(made.headers["location"] + "/delete")
    assert confirm.status_code == 200 and "Delete the segment" in confirm.text
    gone = admin_client.submit(made.headers["location"] + "/delete")
    assert gone.status_code == 303
    assert admin_client.get(made.headers["location"]).status_code == 404


def test_forms_need_the_token_and_other_sites_are_hidden(
    client: TestClient, site: tuple[str, str], admin_client: AdminClient
) -> None:
    base = f"/admin/sites/{site[0]}/segments"
    forged = admin_client.post(base, data={"name": "X", "definition": VIEWERS, "csrf_token": "no"})
    assert forged.status_code == 403
    other, _ = client.app.state.services.site_repo.create("Other shop")  # type: ignore[attr-defined]
    assert admin_client.get(f"/admin/sites/{other.site_id}/segments").status_code == 404
    stranger = admin_client_for(client, other.site_id, "other@example.com")
    assert stranger.get(base).status_code == 404
