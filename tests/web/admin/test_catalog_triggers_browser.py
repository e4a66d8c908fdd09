"""A real Chromium adds, imports and deletes a feed, finds a product and edits a trigger rule
through the forms, with no console error and no broken link on the way."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shoptrack.accounts.users import UserRepository
from shoptrack.triggers.model import Rule
from shoptrack.triggers.rules import read_rules
from tests.catalog.feedfiles import product, rss
from tests.catalog.httpserver import FeedServer, Route, feed_server
from tests.support.admin import PASSWORD
from tests.support.server import free_port
from tests.triggers.live import LiveApp, live_app, live_settings
from tests.web.admin.test_blocks_browser import Visit

pytestmark = pytest.mark.browser
EMAIL = "catalogue@example.com"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[LiveApp]:
    settings = live_settings(
        database_url=f"sqlite:///{tmp_path / 'shoptrack.db'}",
        key_file=tmp_path / "shoptrack.keys",
        port=free_port(),
        feed_allow_private_hosts=True,  # the feed server listens on 127.0.0.1
    )
    with live_app(settings) as running:
        yield running


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as running:
        running.routes["/feed.xml"] = Route(
            rss(product("shoe-1", title="Trail shoe"), product("hat-1", title="Sun hat"))
        )
        yield running


def refused_form(visit: Visit, url: str) -> None:
    """A form answered 400 (shown with its errors), which Chromium logs; nothing else."""
    logged = (
        "console error: Failed to load resource: the server responded with a status of "
        "400 (Bad Request)"
    )
    assert sorted(visit.problems) == sorted([f"400: {url}", logged])
    visit.problems.clear()


def test_feeds_products_and_a_rule_through_the_forms(
    app: LiveApp, chromium: Any, server: FeedServer, tmp_path: Path
) -> None:
    site, _key = app.services.site_repo.create("Browser shop")
    users = UserRepository(app.services.engine)
    users.create(EMAIL, PASSWORD)
    users.grant(EMAIL, site.site_id)
    shots = Path(os.environ.get("SHOPTRACK_TEST_SCREENSHOTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    catalog = f"{app.url}/admin/sites/{site.site_id}/catalog"
    context = chromium.new_context()
    try:
        visit = Visit(context, app.url, shots)
        page = visit.page
        page.goto(f"{app.url}/admin/login")
        page.fill("input[name=email]", EMAIL)
        page.fill("input[name=password]", PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()

        page.goto(catalog)
        assert page.locator("h1").inner_text() == "Catalogue"
        nav = page.get_by_role("navigation", name="Site pages")
        assert nav.get_by_role("link", name="Catalogue").get_attribute("aria-current") == "page"
        visit.check_links("catalog-empty")
        page.get_by_label("Address (http or https)").fill(server.url("/feed.xml"))
        page.get_by_label("Schedule (empty: import on demand only)").fill("sometimes")
        page.get_by_role("button", name="Add feed").click()
        assert "schedule" in page.locator("#feed-schedule-error").inner_text()
        assert page.get_by_label("Address (http or https)").input_value() == server.url("/feed.xml")
        refused_form(visit, f"{catalog}/feeds")
        page.get_by_label("Schedule (empty: import on demand only)").fill("daily@03:00")
        page.get_by_role("button", name="Add feed").click()
        assert "added." in page.locator(".notice").inner_text()

        page.get_by_role("button", name="Import now").click()
        page.wait_for_url("**/catalog/imports/im_*")
        deadline = time.monotonic() + 20
        while "still running" in page.content():
            assert time.monotonic() < deadline, "the import did not end"
            time.sleep(0.1)
            page.reload()
        assert page.locator("h1").inner_text().startswith("Import im_")
        assert "Products\t2" in page.locator("table").inner_text()
        visit.check_links("catalog-import")

        page.get_by_role("link", name="Back to the catalogue").click()
        visit.check_links("catalog")
        page.get_by_role("link", name="Products of the live catalogue").click()
        page.get_by_label("Search by id, name or brand").fill("trail")
        page.get_by_role("button", name="Search").click()
        assert "Sun hat" not in page.content()
        visit.check_links("catalog-products")
        page.get_by_role("link", name="shoe-1").click()
        assert page.locator("h1").inner_text() == "Trail shoe"
        visit.check_links("catalog-product")

        page.goto(catalog)
        page.get_by_role("link", name="Delete…").click()
        assert page.locator("h1").inner_text().startswith("Delete feed fd_")
        visit.check_links("catalog-delete")
        page.get_by_role("button", name="Delete feed").click()
        assert "deleted." in page.locator(".notice").inner_text()
        assert "No feed yet" in page.content()

        nav = page.get_by_role("navigation", name="Site pages")
        nav.get_by_role("link", name="Triggers").click()
        assert page.locator("h1").inner_text() == "Triggers"
        visit.check_links("triggers")
        page.get_by_role("link", name="Edit abandoned_cart").click()
        rule_url = page.url
        page.locator("#rule-delay").fill("10s")
        page.get_by_role("button", name="Save").click()
        assert "must be between 60 s" in page.locator("#rule-delay-error").inner_text()
        assert page.locator("#rule-delay").get_attribute("aria-invalid") == "true"
        refused_form(visit, rule_url)
        visit.check_links("triggers-rule-refused")
        page.locator("#rule-delay").fill("2h")
        page.get_by_label("On: send this rule's messages").check()
        page.get_by_role("button", name="Save").click()
        assert page.locator(".notice").inner_text() == "Rule abandoned_cart saved."
        page.get_by_role("link", name="Messages and their attempts").click()
        page.get_by_label("State").select_option("failed")
        page.get_by_role("button", name="Filter").click()
        assert "No message with these filters." in page.content()
        visit.check_links("triggers-messages")
        assert visit.problems == []
    finally:
        context.close()
    with app.services.engine.connect() as conn:
        cart = read_rules(conn, site.site_id)[Rule.ABANDONED_CART]
    assert (cart.enabled, cart.delay_s) == (True, 7200)
