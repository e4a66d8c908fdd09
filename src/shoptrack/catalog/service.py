"""The catalogue's long-lived objects in one server process (``app.state.catalog``)."""

from __future__ import annotations

import threading
from functools import partial

from sqlalchemy import Engine

from shoptrack.catalog.errors import FeedError, FeedErrorCode
from shoptrack.catalog.feeds import STATUS_FAILED, Feed, FeedRepository, new_import_id
from shoptrack.catalog.import_queue import ImportQueue
from shoptrack.catalog.importer import FeedImporter, ImportOutcome
from shoptrack.catalog.queries import CatalogQueries
from shoptrack.catalog.report import ImportReport
from shoptrack.catalog.scheduler import FeedScheduler
from shoptrack.config import Settings
from shoptrack.store.sql import now_ms


class CatalogService:
    """Feeds, imports (on threads shared fairly by sites) and reads; the scheduler if enabled."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.feeds = FeedRepository(engine, settings.feed_timezone)
        self.importer = FeedImporter(engine, settings)
        self.queries = CatalogQueries(engine)
        self.cancel = threading.Event()
        # Scheduled and API imports share the threads; a site runs one import at a time.
        self.imports = ImportQueue(settings.feed_import_threads)
        self.scheduler = FeedScheduler(
            engine, settings, importer=self.importer, queue=self.imports, cancel=self.cancel
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start_scheduler(self) -> None:
        self._thread = threading.Thread(
            target=self.scheduler.loop, args=(self._stop,), name="feed-scheduler", daemon=True
        )
        self._thread.start()

    def import_now(self, feed: Feed, *, force: bool = False) -> ImportOutcome:
        return self.importer.run(feed, trigger="api", force=force, cancel=self.cancel)

    def import_in_background(self, feed: Feed, *, force: bool = False) -> str:
        import_id = new_import_id()
        # Recorded now, so the import is listed (as running) before its turn comes.
        self.feeds.start_import(feed, import_id, "api", now_ms())
        job = partial(
            self.importer.run,
            feed,
            trigger="api",
            force=force,
            import_id=import_id,
            cancel=self.cancel,
            recorded=True,
        )
        self.importer.waiting(import_id)
        if not self.imports.submit(feed.site_id, job):  # closing: it will not run
            cancelled = FeedError(FeedErrorCode.CANCELLED, "the server is stopping")
            report = ImportReport(cap=0).to_dict()
            self.feeds.finish_import(
                feed, import_id, STATUS_FAILED, report, error=cancelled.to_dict()
            )
        return import_id

    def close(self) -> None:
        """Stop the scheduler; a running import stops at its next batch and keeps nothing."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.cancel.set()
        self.imports.close()
