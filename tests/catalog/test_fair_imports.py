"""A slow feed holds up nobody else: a minimum transfer rate, and a fair share per site.

Imports run on a few threads shared by all sites; a site runs one import at a time and sites
take turns, so one site's slow feeds occupy at most one thread, and a feed that drips slower
than the minimum rate is given up after one measuring window.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine, update

from shoptrack.catalog.feeds import Feed
from shoptrack.catalog.import_queue import ImportQueue
from shoptrack.catalog.importer import FeedImporter
from shoptrack.catalog.scheduler import FeedScheduler
from shoptrack.catalog.service import CatalogService
from shoptrack.config import Settings
from shoptrack.store.sites_repo import SiteRepository
from shoptrack.store.sql import now_ms
from shoptrack.store.tables import catalog_feeds
from tests.catalog.conftest import Catalog
from tests.catalog.feedfiles import product, rss
from tests.catalog.httpserver import FeedServer, Route

# ~2 KiB sent 64 bytes every 0.1 s: slow (about 3 s), but above the floor the tests set.
SLOW_FEED = rss(*(product(f"SLOW-{i}", title="a slow product " * 4) for i in range(8)))
DRIP = (64, 0.1)


def test_a_feed_slower_than_the_minimum_rate_fails_with_the_rate(
    catalog: Catalog, catalog_settings: Settings, server: FeedServer
) -> None:
    # 16 bytes every 0.05 s is ~320 bytes/s: below 1 KiB/s, never idle for the read timeout.
    server.routes["/drip.xml"] = Route(SLOW_FEED, drip=(16, 0.05))
    feed = catalog.feeds.add(catalog.site_id, server.url("/drip.xml"), None, allow_files=False)
    settings = catalog_settings.model_copy(
        update={"feed_min_bytes_per_s": 1024, "feed_min_rate_window_s": 0.5}
    )
    started = time.monotonic()
    outcome = FeedImporter(catalog.engine, settings).run(feed)
    assert time.monotonic() - started < 2.0  # about one window, not the whole drip (~6 s)
    assert outcome.status == "failed" and outcome.error is not None
    assert outcome.error["code"] == "too_slow"
    assert "transfer was slower than 1024 bytes/s" in outcome.error["message"]
    assert "SHOPTRACK_FEED_MIN_BYTES_PER_S" in outcome.error["message"]
    assert catalog.keys() == []


def test_the_queue_runs_one_job_per_site_and_lets_sites_take_turns() -> None:
    queue = ImportQueue(threads=2)
    release = threading.Event()
    order: list[str] = []
    running: dict[str, int] = {}
    most: dict[str, int] = {}
    lock = threading.Lock()

    # c1 holds on until its duplicate was offered: finished first, it would let c2 in.
    c1_may_finish = threading.Event()

    def job(site: str, name: str, gate: threading.Event | None) -> None:
        with lock:
            running[site] = running.get(site, 0) + 1
            most[site] = max(most.get(site, 0), running[site])
            order.append(name)
        if gate is not None:
            gate.wait(5)
        with lock:
            running[site] -= 1

    try:
        for name in ("a1", "a2", "a3"):  # site a's jobs all block until released
            assert queue.submit("a", lambda name=name: job("a", name, release))
        assert queue.submit("b", lambda: job("b", "b1", None))
        assert queue.submit("c", lambda: job("c", "c1", c1_may_finish), key="c-feed")
        assert not queue.submit("c", lambda: job("c", "c2", None), key="c-feed")  # queued
        c1_may_finish.set()
        deadline = time.monotonic() + 5
        while len(order) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        # b and c ran on the second thread while a's first job held the other.
        assert order == ["a1", "b1", "c1"]
        release.set()
        assert queue.wait_idle(5)
    finally:
        queue.close()
    assert order == ["a1", "b1", "c1", "a2", "a3"]
    assert most == {"a": 1, "b": 1, "c": 1}


def _status(catalog: Catalog, feed: Feed) -> str:
    return str(catalog.feeds.imports(feed.site_id, feed.feed_id, 1)[0]["status"])


def test_a_site_with_slow_feeds_does_not_hold_up_another_sites_import(
    catalog: Catalog, catalog_settings: Settings, server: FeedServer, engine: Engine
) -> None:
    server.routes["/slow-1.xml"] = Route(SLOW_FEED, drip=DRIP)
    server.routes["/slow-2.xml"] = Route(SLOW_FEED, drip=DRIP)
    slow = [
        catalog.feeds.add(catalog.site_id, server.url(f"/slow-{n}.xml"), None, allow_files=False)
        for n in (1, 2)
    ]
    other_site = SiteRepository(engine).create("Quick shop")[0].site_id
    quick_path = catalog.tmp_path / "quick.xml"
    quick_path.write_bytes(rss(product("Q1")))
    quick = catalog.feeds.add(other_site, str(quick_path), None, allow_files=True)
    settings = catalog_settings.model_copy(
        update={"feed_import_threads": 2, "feed_min_bytes_per_s": 100, "feed_timeout_s": 2.0}
    )
    service = CatalogService(engine, settings)
    try:
        for feed in slow:  # both of the slow site's feeds asked for first
            service.import_in_background(feed)
        started = time.monotonic()
        service.import_in_background(quick)
        while _status(catalog, quick) == "running" and time.monotonic() - started < 10:
            time.sleep(0.05)
        waited = time.monotonic() - started
        assert _status(catalog, quick) == "ok"
        assert waited < 3.0, f"the quick site's import waited {waited:.1f} s"
        assert _status(catalog, slow[0]) == "running"  # still dripping
        # Waiting for its turn, not marked "interrupted" by the import that went first.
        assert _status(catalog, slow[1]) == "running"
        assert service.imports.wait_idle(30)
    finally:
        service.close()
    # The slow site's second import waited for its turn instead of failing as busy.
    assert [_status(catalog, feed) for feed in slow] == ["ok", "ok"]


def test_scheduled_imports_of_one_site_take_one_thread(
    catalog: Catalog, catalog_settings: Settings, server: FeedServer, engine: Engine
) -> None:
    for n in (1, 2):
        server.routes[f"/slow-{n}.xml"] = Route(SLOW_FEED, drip=DRIP)
        catalog.feeds.add(
            catalog.site_id, server.url(f"/slow-{n}.xml"), "hourly", allow_files=False
        )
    other_site = SiteRepository(engine).create("Quick shop")[0].site_id
    quick_path = catalog.tmp_path / "quick.xml"
    quick_path.write_bytes(rss(product("Q1")))
    quick = catalog.feeds.add(other_site, str(quick_path), "hourly", allow_files=True)
    with engine.begin() as conn:
        conn.execute(update(catalog_feeds).values(next_run_at=now_ms() - 1000))
    settings = catalog_settings.model_copy(
        update={"feed_import_threads": 2, "feed_min_bytes_per_s": 100, "feed_timeout_s": 2.0}
    )
    service = CatalogService(engine, settings)
    try:
        started = time.monotonic()
        assert service.scheduler.run_due() == []  # handed to the import threads
        while not catalog.feeds.imports(other_site, quick.feed_id, 1) or (
            _status(catalog, quick) == "running" and time.monotonic() - started < 10
        ):
            time.sleep(0.05)
        assert _status(catalog, quick) == "ok"
        assert time.monotonic() - started < 3.0
        assert service.imports.wait_idle(30)
    finally:
        service.close()
    statuses = [
        record["status"]
        for feed in catalog.feeds.list_feeds(catalog.site_id)
        for record in catalog.feeds.imports(catalog.site_id, feed.feed_id, 1)
    ]
    assert statuses == ["ok", "ok"]


def test_the_workers_loop_imports_on_a_queue_of_its_own(
    catalog: Catalog, catalog_settings: Settings, engine: Engine
) -> None:
    # `shoptrack worker` / `feeds worker`: the loop owns its import threads and stops them.
    path = catalog.tmp_path / "looped.xml"
    path.write_bytes(rss(product("L1")))
    feed = catalog.feeds.add(catalog.site_id, str(path), "hourly", allow_files=True)
    with engine.begin() as conn:
        conn.execute(update(catalog_feeds).values(next_run_at=now_ms() - 1000))
    scheduler = FeedScheduler(engine, catalog_settings)
    stop = threading.Event()
    loop = threading.Thread(target=scheduler.loop, args=(stop, 0.05))
    loop.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
            catalog.feeds.imports(catalog.site_id, feed.feed_id, 1)
            and _status(catalog, feed) != "running"
        ):
            time.sleep(0.05)
    finally:
        stop.set()
        loop.join(10)
    assert not loop.is_alive() and scheduler.queue is None
    assert _status(catalog, feed) == "ok" and catalog.keys() == ["L1"]
