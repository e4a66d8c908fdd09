"""A marketer in a real Chromium builds a two-condition segment with NOT through the form (no
JSON typed), previews it, saves it, and sees its count, members and history."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from shoptrack.accounts.users import UserRepository
from shoptrack.segments.service import SegmentService
from tests.support.admin import PASSWORD
from tests.support.browser import DESKTOP_CHROME
from tests.support.payloads import browser_event, webevent_body
from tests.support.server import free_port
from tests.triggers.live import LiveApp, live_app, live_settings

pytestmark = pytest.mark.browser
EMAIL = "marketer@example.com"
SHOPPER = "ann.segment@example.com"


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
    answer = httpx.post(
        f"{app.url}/webevent",
        content=orjson.dumps(webevent_body(site_id, *events, visitor_id=visitor)),
        headers={"Content-Type": "text/plain", "User-Agent": DESKTOP_CHROME},
    )
    assert answer.status_code == 200, answer.text


def _shop(app: LiveApp) -> str:
    """Two visitors viewed a product; one of them told the shop her e-mail address."""
    site, _ = app.services.site_repo.create("Segment shop")
    users = UserRepository(app.services.engine)
    users.create(EMAIL, PASSWORD)
    users.grant(EMAIL, site.site_id)
    view = browser_event("ProductPage", {"ProductPage": {"productKey": "P-1", "price": "10"}})
    known = browser_event("CustomerData", {"CustomerData": {"user_email": SHOPPER}})
    _send(app, site.site_id, "v-ann", known, view)
    _send(app, site.site_id, "v-anon", view)
    app.services.runner.drain()
    return site.site_id


def test_a_marketer_builds_previews_and_saves_a_segment_with_the_form(
    app: LiveApp, chromium: Any, tmp_path: Path
) -> None:
    site_id = _shop(app)
    shots = Path(os.environ.get("SHOPTRACK_TEST_SCREENSHOTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(base_url=app.url)
    problems: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        page.goto(f"/admin/login?next=/admin/sites/{site_id}/segments")
        page.fill("input[name=email]", EMAIL)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"**/admin/sites/{site_id}/segments")

        page.get_by_label("Name", exact=True).fill("Known product viewers")
        # The first row starts as "viewed a product"; the window is set by hand.
        assert page.locator("#c0-event").input_value() == "viewed"
        page.locator("#c0-within_days").fill("7")
        page.get_by_label("New condition").select_option("contact")
        page.get_by_role("button", name="Add condition").click()
        page.wait_for_selector("#c1-is")
        assert page.locator("#c0-within_days").input_value() == "7"  # kept across the post
        page.locator("#c1-is").select_option("anonymous")
        page.get_by_label("NOT (condition 2): people for whom it does not hold").check()
        page.get_by_role("button", name="Preview", exact=True).click()
        preview = page.locator("#preview")
        preview.wait_for()
        assert "1 people match now: 1 contacts and 0 anonymous visitors" in preview.inner_text()
        assert page.locator("#c1-not").is_checked()
        page.screenshot(path=str(shots / "segments-builder.png"), full_page=True)

        page.get_by_role("button", name="Save segment").click()
        page.wait_for_url(f"**/admin/sites/{site_id}/segments/1")
        assert page.locator("h1").inner_text() == "Segment: Known product viewers"
        assert page.locator(".card .value").first.inner_text() == "1"
        member = page.locator("table").first.locator("tbody tr")
        assert member.count() == 1
        changes = page.locator("table").nth(1).locator("tbody tr")
        assert changes.count() == 1 and "entered" in changes.first.inner_text()
        assert page.locator("svg").count() >= 1  # the count history
        # The saved segment opens in the form again, as it was built.
        assert page.locator("#c1-is").input_value() == "anonymous"
        assert page.locator("#c1-not").is_checked()
        page.screenshot(path=str(shots / "segment.png"), full_page=True)
        assert problems == []
    finally:
        context.close()
    stored = SegmentService(app.services.engine).get(site_id, 1).to_json()["definition"]
    assert stored["match"]["all"][1] == {"not": {"condition": "contact", "is": "anonymous"}}
    assert stored["match"]["all"][0]["event"] == "viewed"
    assert stored["match"]["all"][0]["within_days"] == 7
