"""The Overview page: tracking status from the pre-computed counts, snippets for what is missing."""

from __future__ import annotations

import html

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from shoptrack.analytics.queries import PAGE_TYPES
from shoptrack.store.tables import events
from tests.analytics.events import process
from tests.support.admin import AdminClient, admin_client_for
from tests.support.payloads import browser_event, webevent_body

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def engine_of(browser: TestClient) -> Engine:
    engine: Engine = browser.app.state.services.engine  # type: ignore[attr-defined]
    return engine


def send(client: TestClient, site_id: str, url: str, agent: str, visitor: str, *names: str) -> None:
    """Through the collector, on the app's own client (its event loop runs the writer)."""
    body = webevent_body(
        site_id,
        *(browser_event(name) for name in names),
        visitor_id=visitor,
        page={"url": url, "referrer": None, "title": "Shop"},
    )
    answer = client.post(
        "/webevent",
        content=orjson.dumps(body),
        headers={"User-Agent": agent, "Content-Type": "text/plain"},
    )
    assert answer.status_code == 200, answer.text


def overview(browser: AdminClient) -> str:
    page = browser.get(f"/admin/sites/{browser.site_id}/overview")
    assert page.status_code == 200, page.text
    return html.unescape(page.text)


def test_a_new_site_is_not_installed_and_gets_every_snippet(admin_client: AdminClient) -> None:
    text = overview(admin_client)
    assert "Not installed yet" in text
    for kind in PAGE_TYPES:
        assert f'id="missing-{kind}"' in text
    # The loader, with this server's address and the site filled in, as JS string literals.
    assert '"https://testserver/scripts/" + n' in text
    assert f"(window, document, 'script', \"{admin_client.site_id}\");" in text
    assert "eS('init', {TRACKING: false, RECOMS: true});" in text
    assert "<h1>" in text and text.count("<h1") == 1


def test_events_that_arrive_show_it_installed_with_their_pages(
    client: TestClient, admin_client: AdminClient
) -> None:
    site = admin_client.site_id
    send(client, site, "https://shop.example/p/1?utm_source=x", FIREFOX, "v1", "PageView")
    send(client, site, "https://shop.example/", FIREFOX, "v2", "PageView", "MainPage")
    send(client, site, "https://shop.example/secret-bot-page", GOOGLEBOT, "bot", "PageView")
    process(engine_of(admin_client))
    text = overview(admin_client)
    assert "Installed." in text
    assert "https://shop.example/p/1?utm_source=x" in text
    assert 'id="missing-PageView"' not in text and 'id="missing-MainPage"' not in text
    assert 'id="missing-PurchasedItems"' in text
    # Page views today: the two people's; the crawler's apart.
    assert '<tr><th scope="row">Page views</th><td>2</td><td>0</td></tr>' in text
    assert '<tr><th scope="row">Unique visitors</th><td>2</td><td>0</td></tr>' in text
    assert "Bot page views (left out above)</th><td>1</td>" in text
    assert "Pages bots read lately (1)" in text


def test_the_page_reads_only_the_precomputed_counts(
    client: TestClient, admin_client: AdminClient
) -> None:
    send(client, admin_client.site_id, "https://shop.example/", FIREFOX, "v1", "PageView")
    engine = engine_of(admin_client)
    process(engine)
    with engine.begin() as conn:
        conn.execute(events.delete())
    text = overview(admin_client)
    assert "Installed." in text
    assert '<tr><th scope="row">Page views</th><td>1</td><td>0</td></tr>' in text


def test_another_users_site_is_not_found(client: TestClient, site: tuple[str, str]) -> None:
    repo = client.app.state.services.site_repo  # type: ignore[attr-defined]
    other, _ = repo.create("Someone else's shop")
    browser = admin_client_for(client, site[0])
    assert browser.get(f"/admin/sites/{other.site_id}/overview").status_code == 404
    signed_out = AdminClient(client.app, base_url="https://testserver", follow_redirects=False)
    answer = signed_out.get(f"/admin/sites/{site[0]}/overview")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/admin/login?next=")
