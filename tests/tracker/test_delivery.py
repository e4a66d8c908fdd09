"""Delivery: leaving the page, the collector answering 503 or unreachable and coming back,
client errors, the capped queue, oversized batches.

The browser posts to a switchable proxy in front of the real server (the server's
``SHOPTRACK_PUBLIC_URL`` points the served script at it), so a test can make the collector
fail, or vanish, while the page and the script keep loading.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.server import ServerProcess
from tests.tracker.helpers import (
    FAST_RETRY,
    ShopServer,
    StoredEvents,
    SwitchProxy,
    names,
    shop_page,
    wait_until,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def proxy() -> Iterator[SwitchProxy]:
    switch = SwitchProxy(upstream="")
    yield switch
    switch.down()


@pytest.fixture(scope="module")
def collector(
    tmp_path_factory: pytest.TempPathFactory, proxy: SwitchProxy
) -> Iterator[ServerProcess]:
    """This module's server: its tracker posts to the proxy, not to the server itself."""
    workdir = tmp_path_factory.mktemp("relayed")
    server = ServerProcess(
        f"sqlite:///{workdir / 'shoptrack.db'}",
        workdir,
        env={"SHOPTRACK_PUBLIC_URL": proxy.url},
    )
    server.start()
    proxy.upstream = server.url
    proxy.up()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def proxy_passing(proxy: SwitchProxy, collector: ServerProcess) -> Iterator[None]:
    proxy.up("pass")
    with proxy.lock:
        proxy.records.clear()
    yield
    proxy.up("pass")


def _loaded(page: Any) -> None:
    page.wait_for_function("window.eS && window.eS.shoptrack === true")


def _queue_ids(page: Any) -> list[str]:
    return list(
        page.evaluate(
            "(JSON.parse(localStorage.getItem('sc_q')) || {e: []}).e.map(function (e) {"
            " return e.name + ':' + e.id; })"
        )
    )


def _searches(events: list[dict[str, Any]]) -> list[str]:
    return [e["search"]["query"] for e in events if e["type"] == "SearchRequest"]


def test_navigating_away_right_after_send_event(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
) -> None:
    site_id = shop_site[0]
    target = shop.add("/elsewhere", "<!doctype html><title>elsewhere</title><p>bye</p>")
    url = shop.add(
        "/leave",
        shop_page(
            collector.url,
            site_id,
            body="<a id='go' href='/elsewhere' onclick=\"eS('sendEvent', 'AddToWishlist',"
            " {AddToWishlist: {productKey: 'W-1'}})\">wishlist and go</a>",
        ),
    )
    page.goto(url)
    _loaded(page)
    stored.wait(count=1)
    page.click("#go")  # the handler sends, the link navigates at once
    page.wait_for_url(target)
    # And a script-driven navigation in the same tick as the call.
    page.goto(url)
    _loaded(page)
    page.evaluate(
        "() => { eS('sendEvent', 'SearchRequest', {SearchRequest: {search: 'leaving'}});"
        " location.href = '/elsewhere'; }"
    )
    page.wait_for_url(target)
    # Every event arrives; the two pages' requests may be stored in either order (the second
    # page's PageView and its SearchRequest leave in separate requests while it unloads).
    expected = ["AddToWishlist", "PageView", "PageView", "SearchRequest"]
    events = stored.wait(lambda evs: len(evs) >= len(expected) and "SearchRequest" in names(evs))
    assert sorted(names(events)) == expected


def test_pending_events_leave_by_beacon_when_the_page_is_left(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
    proxy: SwitchProxy,
) -> None:
    target = shop.add("/after-beacon", "<!doctype html><title>next</title>")
    url = shop.add(
        "/beacon",
        # A long first retry: only leaving the page can deliver before it.
        shop_page(collector.url, shop_site[0], init={"retryBase": 30000, "retryMax": 30000}),
    )
    proxy.up("503")
    page.goto(url)
    _loaded(page)
    wait_until(lambda: [r for r in proxy.posts() if r.status == 503], what="a 503")
    proxy.up("pass")
    page.goto(target)
    events = stored.wait(count=1)
    assert names(events) == ["PageView"]
    # The proxy notes a post once its answer went back: that may follow the commit a little.
    wait_until(lambda: [r for r in proxy.posts() if r.status == 200], what="the beacon's 200")
    beacons = [r for r in proxy.posts() if r.status == 200]
    assert beacons[0].headers.get("sec-fetch-mode") == "no-cors", "not a beacon"


def test_server_down_then_back_delivers_each_event_once_even_across_a_reload(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
    proxy: SwitchProxy,
) -> None:
    url = shop.add("/outage", shop_page(collector.url, shop_site[0], init=FAST_RETRY))
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url) if "webevent" in r.url else None)
    page.goto(url)
    _loaded(page)
    stored.wait(count=1)

    # 1. The collector answers 503: the event is retried with backoff, and stays stored.
    proxy.up("503")
    page.evaluate("eS('sendEvent', 'SearchRequest', {SearchRequest: {search: 'during-503'}})")
    wait_until(lambda: len(proxy.attempts("SearchRequest")) >= 3, what="retries after 503")
    assert all(r.status == 503 for r in proxy.attempts("SearchRequest"))
    assert any(key.startswith("SearchRequest:") for key in _queue_ids(page))

    # 2. The collector is unreachable: connections are refused.
    proxy.down()
    page.evaluate(
        "eS('sendEvent', 'SearchRequest', {SearchRequest: {search: 'while-unreachable'}})"
    )
    wait_until(lambda: len(failed) >= 2, what="failed requests while unreachable", page=page)

    # 3. The visitor reloads while it is still down: the new page takes up the stored events.
    page.reload()
    _loaded(page)
    failures_before = len(failed)
    wait_until(
        lambda: len(failed) > failures_before, what="a failed send after the reload", page=page
    )
    assert len(_queue_ids(page)) == 3  # two searches and the new page view

    # 4. Back: everything arrives, each event once, and the stored queue empties.
    proxy.up("pass")
    events = stored.wait(lambda evs: len(_searches(evs)) == 2 and names(evs).count("PageView") == 2)
    wait_until(lambda: _queue_ids(page) == [], what="the stored queue to empty")
    page.wait_for_timeout(500)  # time for any duplicate to show up
    events = stored.all()
    assert sorted(_searches(events)) == ["during-503", "while-unreachable"]
    assert names(events).count("PageView") == 2 and len(events) == 4
    # The same client id went out on every attempt; the log holds it once.
    sent_ids = [
        e["id"]
        for r in proxy.posts()
        for e in (r.body or {}).get("events", [])
        if e["name"] == "SearchRequest" and e["payload"]["SearchRequest"]["search"] == "during-503"
    ]
    assert len(sent_ids) >= 3 and len(set(sent_ids)) == 1
    assert [e["id"] for e in events if e["type"] == "SearchRequest"].count(sent_ids[0]) == 1


def test_too_many_requests_is_retried(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
    proxy: SwitchProxy,
) -> None:
    url = shop.add("/busy", shop_page(collector.url, shop_site[0], init=FAST_RETRY))
    proxy.up("429")
    page.goto(url)
    _loaded(page)
    wait_until(lambda: len(proxy.attempts("PageView")) >= 2, what="retries after 429")
    proxy.up("pass")
    assert names(stored.wait(count=1)) == ["PageView"]
    wait_until(lambda: _queue_ids(page) == [], what="the stored queue to empty")


def test_client_errors_are_not_retried(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
    proxy: SwitchProxy,
) -> None:
    url = shop.add("/client-error", shop_page(collector.url, shop_site[0], init=FAST_RETRY))
    page.goto(url)
    _loaded(page)
    stored.wait(count=1)
    page.evaluate("eS('sendEvent', 'NoSuchEvent', {NoSuchEvent: {}})")
    wait_until(lambda: proxy.attempts("NoSuchEvent"), what="the refused request")
    page.wait_for_timeout(800)  # several retry periods
    attempts = proxy.attempts("NoSuchEvent")
    assert [r.status for r in attempts] == [400]
    assert _queue_ids(page) == []
    page.evaluate("eS('sendEvent', 'MainPage')")  # and delivery goes on
    assert names(stored.wait(count=2)) == ["PageView", "MainPage"]


def test_full_queue_drops_the_oldest_and_reports_how_many(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
    proxy: SwitchProxy,
) -> None:
    url = shop.add(
        "/cap", shop_page(collector.url, shop_site[0], init={**FAST_RETRY, "maxQueue": 3})
    )
    proxy.down()
    page.goto(url)
    _loaded(page)
    page.evaluate(
        "() => { for (let i = 1; i <= 5; i++)"
        " eS('sendEvent', 'SearchRequest', {SearchRequest: {search: 'q' + i}}); }"
    )
    assert len(_queue_ids(page)) == 3
    proxy.up("pass")
    events = stored.wait(count=3)
    assert _searches(events) == ["q3", "q4", "q5"]  # the page view, q1 and q2 were dropped
    assert events[0]["dropped_before"] == 3
    assert all("dropped_before" not in e for e in events[1:])


def test_a_batch_over_the_server_limit_is_split(
    page: Any,
    shop: ShopServer,
    collector: ServerProcess,
    shop_site: tuple[str, str],
    stored: StoredEvents,
    proxy: SwitchProxy,
) -> None:
    url = shop.add(
        "/split", shop_page(collector.url, shop_site[0], init={"maxBatch": 150, **FAST_RETRY})
    )
    page.goto(url)
    _loaded(page)
    stored.wait(count=1)
    page.evaluate("() => { for (let i = 0; i < 150; i++) eS('sendEvent', 'MainPage'); }")
    events = stored.wait(count=151, timeout=15)
    assert len(events) == 151
    statuses = [r.status for r in proxy.posts()]
    assert 413 in statuses  # 150 events are over the server's 100 per request
