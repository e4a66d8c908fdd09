"""The dashboard's segment pages: build with the condition form or JSON, preview, members
(paged), history, delete."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import orjson
from fastapi.testclient import TestClient

from shoptrack.segments.service import SegmentService
from tests.support.admin import AdminClient, admin_client_for
from tests.support.identity import (
    customer_data,
    drain,
    post_contacts,
    product_view,
    send_browser,
    services_of,
)
from tests.web.admin.test_segment_form import FULL, MORE

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


class _Fields(HTMLParser):
    """The fields a browser would post from a page's segment editor form."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._in_form = False
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._in_form = "segment-editor" in a.get("class", "")
        elif not self._in_form:
            return
        elif tag == "input" and a.get("type") not in ("submit", "button"):
            if a.get("type") != "checkbox" or "checked" in a:
                self.fields.append((a["name"], a.get("value", "on" if "checked" in a else "")))
        elif tag == "select":
            self._select, self._options = a["name"], []
        elif tag == "option" and self._select:
            self._options.append((a["value"], "selected" in a))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "select" and self._select:
            chosen = [v for v, on in self._options if on] or [self._options[0][0]]
            self.fields.append((self._select, chosen[0]))
            self._select = None


def _form_fields(page: str) -> dict[str, str]:
    parser = _Fields()
    parser.feed(page)
    return dict(parser.fields)


def _stored(client: TestClient, site_id: str, segment_id: int) -> Any:
    return (
        SegmentService(services_of(client).engine, services_of(client).keyring)
        .get(site_id, segment_id)
        .to_json()["definition"]
    )


def test_a_segment_made_elsewhere_opens_in_the_form_and_saves_unchanged(
    client: TestClient, site: tuple[str, str], admin_client: AdminClient
) -> None:
    """Every kind, rendered into the form's fields and posted back as a browser would."""
    nodes = [{"not": leaf} if n % 2 else leaf for n, leaf in enumerate([*FULL.values(), *MORE])]
    service = SegmentService(services_of(client).engine, services_of(client).keyring)
    made = service.create(site[0], "Everything", {"version": 1, "match": {"any": nodes}})
    before = _stored(client, site[0], made.segment_id)
    path = f"/admin/sites/{site[0]}/segments/{made.segment_id}"
    page = admin_client.get(path)
    assert page.status_code == 200 and 'name="editor" value="form"' in page.text
    fields = _form_fields(page.text)
    assert fields["combine"] == "any" and fields["rows"] == str(len(nodes))
    assert admin_client.submit(path, {**fields, "action": "save"}).status_code == 303
    assert _stored(client, site[0], made.segment_id) == before


def test_the_form_adds_and_removes_rows_and_shows_an_error_at_its_row(
    client: TestClient, site: tuple[str, str], admin_client: AdminClient
) -> None:
    base = f"/admin/sites/{site[0]}/segments"
    fields = _form_fields(admin_client.get(base).text)
    assert fields["rows"] == "1" and fields["c0.condition"] == "event"
    fields.update({"name": "Two rows", "c0.event": "carted", "new_condition": "orders"})
    added = admin_client.submit(base, {**fields, "action": "add"})
    assert added.status_code == 200 and 'id="c1-metric"' in added.text
    fields = _form_fields(added.text)
    assert fields["c0.event"] == "carted" and fields["name"] == "Two rows"  # kept
    fields.update({"c1.value": "lots", "c1.not": "on"})
    refused = admin_client.submit(base, {**fields, "action": "preview"})
    assert refused.status_code == 400
    error = re.search(r'<p class="field-error" id="([^"]+)">([^<]*)</p>', refused.text)
    assert error and error.group(1) == "c1-value-error"
    assert "definition.match.all.1.not.value" in error.group(2)
    assert re.search(r'id="c1-value"[^>]* value="lots" aria-invalid="true"', refused.text)
    fields = _form_fields(refused.text)
    assert fields["c1.not"] == "on"
    removed = admin_client.submit(base, {**fields, "action": "remove-1"})
    assert removed.status_code == 200 and 'id="c1-metric"' not in removed.text
    assert _form_fields(removed.text)["rows"] == "1"
    empty = admin_client.submit(base, {**_form_fields(removed.text), "action": "remove-0"})
    nothing = admin_client.submit(base, {**_form_fields(empty.text), "action": "save"})
    assert nothing.status_code == 400 and "add at least one condition" in nothing.text


def test_the_json_view_keeps_what_the_form_cannot_show(
    client: TestClient, site: tuple[str, str], admin_client: AdminClient
) -> None:
    base = f"/admin/sites/{site[0]}/segments"
    fields = _form_fields(admin_client.get(base).text)
    as_json = admin_client.submit(base, {**fields, "action": "json"})
    assert as_json.status_code == 200 and 'name="editor" value="json"' in as_json.text
    assert "&#34;condition&#34;: &#34;event&#34;" in as_json.text
    nested = {"version": 1, "match": {"any": [{"all": [FULL["contact"], FULL["orders"]]}]}}
    text = orjson.dumps(nested).decode()
    stays = admin_client.submit(
        base, {"editor": "json", "name": "Deep", "definition": text, "action": "form"}
    )
    assert 'name="editor" value="json"' in stays.text and "stays in the JSON editor" in stays.text
    made = admin_client.submit(base, {"editor": "json", "name": "Deep", "definition": text})
    assert made.status_code == 303
    detail = admin_client.get(made.headers["location"])
    assert 'name="editor" value="json"' in detail.text and "Deep" in detail.text
    flat = orjson.dumps({"version": 1, "match": FULL["contact"]}).decode()
    back = admin_client.submit(base, {"editor": "json", "definition": flat, "action": "form"})
    assert 'name="editor" value="form"' in back.text and 'id="c0-is"' in back.text


def test_members_are_paged(
    client: TestClient, site: tuple[str, str], admin_client: AdminClient
) -> None:
    site_id, key = site
    rows = [{"email": f"p{n:02d}@example.com"} for n in range(55)]
    assert post_contacts(client, key, {"contacts": rows}).status_code == 200
    made = SegmentService(services_of(client).engine, services_of(client).keyring).create(
        site_id, "Known", {"version": 1, "match": {"condition": "contact", "is": "identified"}}
    )
    path = f"/admin/sites/{site_id}/segments/{made.segment_id}"
    first = admin_client.get(path)
    assert first.text.count('<tr><td><a href="/admin/sites/') == 50
    following = re.search(r'href="([^"]+\?after=[^"]+)">Next page', first.text)
    assert following and "First page" not in first.text
    second = admin_client.get(following.group(1).replace("&amp;", "&"))
    assert second.status_code == 200 and "First page" in second.text
    assert second.text.count('<tr><td><a href="/admin/sites/') == 5
    assert "Next page" not in second.text
