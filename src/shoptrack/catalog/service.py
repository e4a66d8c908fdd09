"""The catalogue's long-lived objects in one server process (``app.state.catalog``)."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import Engine

from shoptrack.catalog.feeds import Feed, FeedRepository, new_import_id
from shoptrack.catalog.importer import FeedImporter, ImportOutcome
from shoptrack.catalog.queries import CatalogQueries
from shoptrack.catalog.scheduler import FeedScheduler
from shoptrack.config import Settings
from shoptrack.store.sql import now_ms


class CatalogService:
    """Feeds, imports (on two background threads) and reads; the scheduler when enabled."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.feeds = FeedRepository(engine, settings.feed_timezone)
        self.importer = FeedImporter(engine, settings)
        self.queries = CatalogQueries(engine)
        self.cancel = threading.Event()
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="feed-import")
        self.scheduler = FeedScheduler(
            engine, settings, importer=self.importer, submit=self._scheduled
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._running: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def start_scheduler(self) -> None:
        self._thread = threading.Thread(
            target=self.scheduler.loop, args=(self._stop,), name="feed-scheduler", daemon=True
        )
        self._thread.start()

    def _scheduled(self, feeds: list[Feed]) -> Future[list[ImportOutcome]] | None:
        """One job per site: its due feeds in turn (they would fight over the site's lease)."""
        with self._lock:
            # A feed whose previous run is still importing skips this run.
            fresh = [f for f in feeds if (f.site_id, f.feed_id) not in self._running]
            self._running.update((f.site_id, f.feed_id) for f in fresh)
        if not fresh:
            return None

        def job() -> list[ImportOutcome]:
            try:
                return self.scheduler.run_in_turn(fresh, cancel=self.cancel)
            finally:
                with self._lock:
                    self._running.difference_update((f.site_id, f.feed_id) for f in fresh)

        return self.executor.submit(job)

    def import_now(self, feed: Feed, *, force: bool = False) -> ImportOutcome:
        return self.importer.run(feed, trigger="api", force=force, cancel=self.cancel)

    def import_in_background(self, feed: Feed, *, force: bool = False) -> str:
        import_id = new_import_id()
        # Recorded now, so the import is listed (as running) before its thread starts.
        self.feeds.start_import(feed, import_id, "api", now_ms())
        self.executor.submit(
            self.importer.run,
            feed,
            trigger="api",
            force=force,
            import_id=import_id,
            cancel=self.cancel,
            recorded=True,
        )
        return import_id

    def close(self) -> None:
        """Stop the scheduler; a running import stops at its next batch and keeps nothing."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.cancel.set()
        self.executor.shutdown(wait=True, cancel_futures=True)
