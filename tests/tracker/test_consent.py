"""The visitor cookie, the session, and consent: memory-only mode, granting later, opting out."""

from __future__ import annotations

import time
from typing import Any

import pytest
from tests.support.server import ServerProcess
from tests.tracker.helpers import ShopServer, StoredEvents, names, shop_page

pytestmark = pytest.mark.browser

STORAGE_KEYS = "['sc', 'sc_s', 'sc_q', 'sc_i', 'sc_l']"


def _loaded(page: Any) -> None:
    page.wait_for_function("window.eS && window.eS.shoptrack === true")


def _cookies(page: Any) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in page.context.cookies()}


def _tracker_storage(page: Any) -> list[str]:
    return list(
        page.evaluate(f"{STORAGE_KEYS}.filter(function (k) {{ return localStorage.getItem(k); }})")
    )


def _webevent_posts(page: Any) -> list[Any]:
    posts: list[Any] = []
    page.on(
        "request",
        lambda r: posts.append(r) if r.method == "POST" and r.url.endswith("/webevent") else None,
    )
    return posts


def test_visitor_cookie_for_a_year_and_a_session_that_ends_after_30_idle_minutes(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
) -> None:
    url = shop.add("/visit", shop_page(collector.url, shop_site[0]))
    page.goto(url)
    first = stored.wait(count=1)[0]
    cookie = _cookies(page)["sc"]
    assert cookie["value"] == first["visitor_id"]
    assert cookie["sameSite"] == "Lax" and cookie["path"] == "/"
    assert abs(cookie["expires"] - (time.time() + 365 * 86400)) < 86400
    assert page.evaluate("JSON.parse(localStorage.getItem('sc'))") == first["visitor_id"]

    page.reload()
    second = stored.wait(count=2)[1]
    assert (second["visitor_id"], second["session_id"]) == (
        first["visitor_id"],
        first["session_id"],
    )

    # 31 minutes without an event: the next page starts a new session, same visitor.
    page.evaluate(
        "() => { const s = JSON.parse(localStorage.getItem('sc_s'));"
        " s.t -= 31 * 60 * 1000; localStorage.setItem('sc_s', JSON.stringify(s)); }"
    )
    page.reload()
    third = stored.wait(count=3)[2]
    assert third["visitor_id"] == first["visitor_id"]
    assert third["session_id"] != first["session_id"]


def test_visitor_id_falls_back_to_local_storage_without_cookies(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
) -> None:
    url = shop.add("/no-cookie", shop_page(collector.url, shop_site[0]))
    page.goto(url)
    first = stored.wait(count=1)[0]
    page.context.clear_cookies()  # e.g. a browser that drops script-set cookies
    page.reload()
    second = stored.wait(count=2)[1]
    assert second["visitor_id"] == first["visitor_id"]
    assert _cookies(page)["sc"]["value"] == first["visitor_id"]  # and the cookie is back


def test_memory_only_until_consent_then_storage_without_losing_events(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
) -> None:
    url = shop.add(
        "/consent-later",
        shop_page(
            collector.url,
            shop_site[0],
            "eS('sendEvent', 'CustomerData', {CustomerData: {user_email: 'm@example.com'}});",
            init={"storage": False},
        ),
    )
    page.goto(url)
    _loaded(page)
    page.evaluate("eS('sendEvent', 'MainPage')")
    before = stored.wait(count=3)
    assert _cookies(page) == {}, "no cookie before consent"
    assert _tracker_storage(page) == [], "no storage before consent"

    # Granted in the same tick as an event: that event and all later ones keep the visitor.
    page.evaluate(
        "() => { eS('sendEvent', 'CategoryPage', {CategoryPage: {categoryKey: 'c1'}});"
        " eS('consent', true); }"
    )
    after = stored.wait(count=4)
    visitor = before[0]["visitor_id"]
    assert {e["visitor_id"] for e in after} == {visitor}
    assert names(after) == ["PageView", "CustomerData", "MainPage", "CategoryPage"]
    assert after[3]["identified"] is True  # the identity in memory carried over too
    assert _cookies(page)["sc"]["value"] == visitor
    assert "sc" in _tracker_storage(page)

    # The next page starts memory-only again (its snippet says so) until the shop's consent
    # tool grants again; then the stored visitor and identity are taken up.
    page.reload()
    reloaded = stored.wait(count=6)[4:]
    assert names(reloaded) == ["PageView", "CustomerData"]
    assert reloaded[0]["visitor_id"] != visitor
    page.evaluate("() => { eS('consent', true); eS('sendEvent', 'MainPage'); }")
    last = stored.wait(count=7)[6]
    assert last["visitor_id"] == visitor and last["identified"] is True


def test_opt_out_stops_sending_clears_storage_and_holds_on_later_pages(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
) -> None:
    url = shop.add(
        "/opt-out",
        shop_page(
            collector.url,
            shop_site[0],
            "eS('sendEvent', 'CustomerData', {CustomerData: {user_email: 'o@example.com'}});",
        ),
    )
    page.goto(url)
    _loaded(page)
    first = stored.wait(count=2)
    assert "sc" in _cookies(page) and "sc_i" in _tracker_storage(page)

    posts = _webevent_posts(page)
    page.evaluate("() => { eS('consent', false); eS('sendEvent', 'MainPage'); }")
    assert "sc" not in _cookies(page)
    assert _cookies(page)["sc_out"]["value"] == "1"
    assert _tracker_storage(page) == []

    page.reload()
    _loaded(page)
    page.evaluate("eS('sendEvent', 'NotFound')")
    page.wait_for_timeout(600)
    assert posts == [], "nothing may be sent after the opt-out"
    assert len(stored.all()) == 2
    assert "sc" not in _cookies(page) and _tracker_storage(page) == []

    # Changing one's mind: a new visitor, never the old id.
    page.evaluate("eS('consent', true)")
    events = stored.wait(count=3)
    assert names(events) == ["PageView", "CustomerData", "PageView"]
    assert events[2]["visitor_id"] != first[0]["visitor_id"]
    assert events[2]["identified"] is False
    assert "sc_out" not in _cookies(page)
