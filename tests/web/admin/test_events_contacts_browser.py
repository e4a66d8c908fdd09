"""Live events, Rejected and Contacts in real Chromium: sign in at /admin/login, narrow the
events with the filters, open an event's canonical form, read a refused body, find a contact
by e-mail and erase it through the confirmation. Any console error fails the test.

The app runs in this process on a real port (``tests/triggers/live.py``): the test drains the
processors itself, so what the pages show is settled before the browser looks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from shoptrack.accounts.users import UserRepository
from tests.support.admin import PASSWORD
from tests.support.browser import DESKTOP_CHROME, launch_chromium
from tests.support.payloads import browser_event, webevent_body
from tests.support.server import free_port
from tests.triggers.live import LiveApp, live_app, live_settings

pytestmark = pytest.mark.browser

EMAIL = "staff@example.com"
SHOPPER = "shopper.browser@example.com"
# Screenshots go here when set (CI keeps them as artifacts), else to the test's tmp dir.
SCREENSHOTS_ENV = "SHOPTRACK_SCREENSHOTS"


@pytest.fixture(scope="module")
def chromium(playwright_driver: Any) -> Iterator[Any]:
    launched = launch_chromium(playwright_driver)
    yield launched
    launched.close()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[LiveApp]:
    settings = live_settings(
        database_url=f"sqlite:///{tmp_path / 'shoptrack.db'}",
        key_file=tmp_path / "shoptrack.keys",
        port=free_port(),
    )
    with live_app(settings) as running:
        yield running


def _send(app: LiveApp, site_id: str, visitor: str, *events: dict[str, Any]) -> None:
    body = webevent_body(site_id, *events, visitor_id=visitor)
    answer = httpx.post(
        f"{app.url}/webevent",
        content=orjson.dumps(body),
        # A visitor's browser, not a bot: the pages show what a shop would see.
        headers={"Content-Type": "text/plain", "User-Agent": DESKTOP_CHROME},
    )
    assert answer.status_code == 200, answer.text


def _product(key: str) -> dict[str, Any]:
    return browser_event("ProductPage", {"ProductPage": {"productKey": key, "price": "10"}})


def _shop(app: LiveApp) -> str:
    services = app.services
    site, _ = services.site_repo.create("Browser shop")
    users = UserRepository(services.engine)
    users.create(EMAIL, PASSWORD)
    users.grant(EMAIL, site.site_id)
    _send(app, site.site_id, "v-anna", _product("ANNA-1"), _product("ANNA-2"))
    _send(app, site.site_id, "v-bert", browser_event("MainPage"), _product("BERT-1"))
    _send(
        app,
        site.site_id,
        "v-anna",
        browser_event("CustomerData", {"CustomerData": {"user_email": SHOPPER}}),
        browser_event("NoSuchEvent", {"note": "refused on purpose"}),
    )
    services.runner.drain()
    return site.site_id


def _console(problems: list[str], message: Any) -> None:
    if message.type == "error":
        where = (message.location or {}).get("url", "")
        problems.append(f"{message.text} ({where})")


class Shots:
    def __init__(self, tmp_path: Path) -> None:
        self.dir = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path)
        self.dir.mkdir(parents=True, exist_ok=True)

    def take(self, page: Any, name: str) -> None:
        page.screenshot(path=str(self.dir / f"admin-{name}.png"), full_page=True)


def test_filters_and_erasure_in_chromium(chromium: Any, app: LiveApp, tmp_path: Path) -> None:
    site_id = _shop(app)
    shots = Shots(tmp_path)
    context = chromium.new_context(base_url=app.url)
    problems: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: _console(problems, m))
    page.on("pageerror", lambda error: problems.append(str(error)))
    broken: list[str] = []
    page.on("response", lambda r: broken.append(r.url) if r.status >= 400 else None)
    try:
        page.goto(f"/admin/login?next=/admin/sites/{site_id}/events")
        page.fill("input[name=email]", EMAIL)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"**/admin/sites/{site_id}/events")
        rows = page.locator("table.events tbody tr")
        assert rows.count() == 5  # four page events and the CustomerData; the refusal is apart
        shots.take(page, "events")

        # Filters: a type, then a visitor on top of it (the form keeps both).
        page.select_option("#f-type", "ProductPage")
        page.click("form.filters button[type=submit]")
        page.wait_for_url("**type=ProductPage**")
        assert rows.count() == 3
        page.fill("#f-visitor", "v-bert")
        page.click("form.filters button[type=submit]")
        page.wait_for_url("**visitor=v-bert**")
        assert rows.count() == 1 and "BERT-1" in rows.first.inner_text()
        # The row opens on its canonical form.
        row = rows.first
        assert not row.locator("pre").is_visible()
        row.locator("summary").click()
        assert '"type": "ProductPage"' in row.locator("pre").inner_text()
        # Live: the page asks the browser to reload itself.
        page.check("#f-live")
        page.click("form.filters button[type=submit]")
        page.wait_for_url("**live=1**")
        assert page.locator('meta[http-equiv="refresh"]').count() == 1

        page.click("nav.site >> text=Rejected")
        page.wait_for_url(f"**/admin/sites/{site_id}/rejected")
        refused = page.locator("table.rejected tbody tr")
        assert refused.count() == 1 and "unknown_event" in refused.first.inner_text()
        refused.first.locator("summary").click()
        assert "refused on purpose" in refused.first.locator("pre").inner_text()
        shots.take(page, "rejected")

        # Contacts: found by e-mail (a POST: the address stays out of the URL), then erased.
        page.click("nav.site >> text=Contacts")
        page.wait_for_url(f"**/admin/sites/{site_id}/contacts")
        shots.take(page, "contacts")
        page.fill("#q", SHOPPER.upper())
        page.click("form.filters button[type=submit]")
        page.wait_for_load_state()
        assert SHOPPER not in page.url
        found = page.locator("table.contacts tbody tr")
        assert found.count() == 1 and SHOPPER in found.first.inner_text()
        found.first.locator("a").click()
        page.wait_for_url("**/contacts/ct_*")
        assert page.locator("table.devices tbody tr").count() == 1
        assert page.locator("table.events tbody tr").count() == 3  # v-anna's, from before too
        shots.take(page, "contact")
        page.click("text=Erase…")
        page.wait_for_url("**/erase")
        shots.take(page, "erase-confirm")
        page.click("button.danger")
        page.wait_for_url("**/erasures/au_*")
        assert "Contact erased" in page.locator("h1").inner_text()
        shots.take(page, "erased")

        page.click("text=Back to contacts")
        page.fill("#q", SHOPPER)
        page.click("form.filters button[type=submit]")
        page.wait_for_load_state()
        assert "No contact of this site" in page.locator("main").inner_text()
        assert page.locator("table.contacts").count() == 0
    finally:
        context.close()
    assert problems == [], f"console errors: {problems}"
    assert broken == [], f"answers >= 400: {broken}"
