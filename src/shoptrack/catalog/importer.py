"""One feed import, from the first byte to the switch (or to a recorded failure).

Memory stays bounded whatever the feed's size: the parser holds one item, the importer one
batch of ``feed_batch_size`` items, the report counters and a capped list of examples. The
only sets that grow (category ids already written) are capped caches.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine, select, update

from shoptrack.catalog import generations
from shoptrack.catalog.categories import CategoryIndex
from shoptrack.catalog.errors import FeedError, FeedErrorCode
from shoptrack.catalog.feeds import (
    STATUS_FAILED,
    STATUS_NOT_MODIFIED,
    STATUS_OK,
    Feed,
    FeedRepository,
    new_import_id,
)
from shoptrack.catalog.fields import FeedItem, Problem, build_item
from shoptrack.catalog.formats import FeedReader, deadline_after, open_items
from shoptrack.catalog.report import ImportReport
from shoptrack.catalog.sources import FetchOptions, NotModified, open_feed
from shoptrack.catalog.store_ops import SOURCE_FEED, delete_generation
from shoptrack.config import Settings
from shoptrack.metrics.instruments import instruments
from shoptrack.store.sql import now_ms
from shoptrack.store.tables import catalog_history, catalog_product_categories, catalog_state
from shoptrack.store.tables import events as events_table

log = logging.getLogger(__name__)
# Renewed by every batch; an import whose process died frees the site after this long.
LEASE_TTL_MS = 3 * 60 * 1000
# How many recent CategoryPage events are compared with the new catalogue's categories.
RECENT_CATEGORY_EVENTS = 5000


@dataclass(slots=True)
class Progress:
    bytes_read: int
    total_bytes: int | None
    items: int
    products: int


ProgressCallback = Callable[[Progress], None]


@dataclass(slots=True)
class ImportOutcome:
    import_id: str
    site_id: str
    feed_id: str
    status: str
    report: dict[str, Any]
    error: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.import_id,
            "site_id": self.site_id,
            "feed_id": self.feed_id,
            "status": self.status,
            "error": self.error,
            "report": self.report,
        }


class FeedImporter:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.feeds = FeedRepository(engine, settings.feed_timezone)
        # Imports recorded as running that wait in this process's queue for their site's turn:
        # not interrupted as dead by the imports that start before them.
        self._waiting: set[str] = set()
        self._waiting_lock = threading.Lock()

    def waiting(self, import_id: str) -> None:
        with self._waiting_lock:
            self._waiting.add(import_id)

    def run(
        self,
        feed: Feed,
        *,
        trigger: str = "cli",
        force: bool = False,
        import_id: str | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        recorded: bool = False,
    ) -> ImportOutcome:
        """Import ``feed`` now; ``recorded``: the caller already wrote the 'running' row."""
        started = time.perf_counter()
        outcome = self._import(feed, trigger, force, import_id, progress, cancel, recorded)
        metrics = instruments()
        metrics.feed_imports.labels(outcome.status).inc()
        metrics.feed_import_duration.labels(outcome.status).observe(time.perf_counter() - started)
        return outcome

    def _import(
        self,
        feed: Feed,
        trigger: str,
        force: bool,
        import_id: str | None,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
        recorded: bool,
    ) -> ImportOutcome:
        import_id = import_id or new_import_id()
        with self._waiting_lock:
            self._waiting.discard(import_id)
        started = now_ms()
        report = ImportReport(cap=self.settings.feed_report_examples)
        if not recorded:
            self.feeds.start_import(feed, import_id, trigger, started)
        lease = generations.Lease(feed.site_id, import_id, LEASE_TTL_MS)
        try:
            generations.acquire(self.engine, lease, started)
        except FeedError as exc:
            return self._failed(feed, import_id, report, exc, lease=None)
        with self._waiting_lock:
            waiting = tuple(self._waiting)
        self.feeds.interrupt_stale(feed.site_id, import_id, waiting)
        staging = generations.Staging(
            feed.site_id, feed.feed_id, import_id, started, lease.live, lease.new
        )
        try:
            etag, last_modified = self._load(feed, force, lease, staging, report, progress, cancel)
            self._check_categories(staging, report)
            with self.engine.begin() as conn:
                generations.switch(conn, lease, staging, report)
        except NotModified:
            generations.release(self.engine, lease, discard=True)
            self.feeds.finish_import(feed, import_id, STATUS_NOT_MODIFIED, report.to_dict())
            return ImportOutcome(
                import_id, feed.site_id, feed.feed_id, STATUS_NOT_MODIFIED, report.to_dict()
            )
        except FeedError as exc:
            return self._failed(feed, import_id, report, exc, lease=lease, staging=staging)
        except Exception as exc:
            log.exception("feed import %s of site %s failed", import_id, feed.site_id)
            error = FeedError(FeedErrorCode.INTERNAL, f"internal error: {type(exc).__name__}")
            return self._failed(feed, import_id, report, error, lease=lease, staging=staging)
        generations.release(self.engine, lease, discard=False)
        self.feeds.finish_import(
            feed,
            import_id,
            STATUS_OK,
            report.to_dict(),
            generation=staging.new,
            etag=etag,
            last_modified=last_modified,
        )
        self._retire(feed.site_id, staging.live)
        return ImportOutcome(import_id, feed.site_id, feed.feed_id, STATUS_OK, report.to_dict())

    def _load(
        self,
        feed: Feed,
        force: bool,
        lease: generations.Lease,
        staging: generations.Staging,
        report: ImportReport,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> tuple[str | None, str | None]:
        settings = self.settings
        options = FetchOptions(
            settings.feed_timeout_s,
            settings.feed_max_bytes,
            deadline_after(settings.feed_max_seconds),
            settings.feed_allow_private_hosts,
            min_bytes_per_s=settings.feed_min_bytes_per_s,
            rate_window_s=settings.feed_min_rate_window_s,
        )
        with open_feed(
            feed.url,
            options,
            etag=None if force else feed.etag,
            last_modified=None if force else feed.last_modified,
        ) as opened:
            batch: list[FeedItem] = []
            flushed = 0

            def flush() -> None:
                nonlocal flushed
                with self.engine.begin() as conn:
                    generations.renew(conn, lease, now_ms())
                    generations.write_batch(conn, staging, batch, report)
                batch.clear()
                flushed += 1
                if flushed & (flushed - 1) == 0:  # batches 1, 2, 4, 8 …: the table doubled
                    generations.analyze(self.engine)
                if progress is not None:
                    total = opened.total_bytes
                    progress(Progress(opened.position(), total, report.items, report.products))
                if cancel is not None and cancel.is_set():
                    raise FeedError(FeedErrorCode.CANCELLED, "the import was cancelled")

            reader: FeedReader | None = None
            try:
                reader = open_items(
                    opened.stream, max_bytes=settings.feed_max_bytes, deadline=options.deadline
                )
                for entry in reader:
                    if isinstance(entry, Problem):
                        report.problem(entry)
                        continue
                    report.items += 1
                    item, problems = build_item(entry)
                    for problem in problems:
                        report.problem(problem)
                    if item is not None:
                        batch.append(item)
                        if len(batch) >= settings.feed_batch_size:
                            flush()
                if batch:
                    flush()
            except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
                raise FeedError(FeedErrorCode.NOT_A_FEED, f"corrupt gzip data: {exc}") from None
            finally:
                report.format = reader.format if reader is not None else None
            report.bytes = opened.position()
            generations.analyze(self.engine)
            if report.products == 0:
                what = "no items" if report.items == 0 else "no item with a g:id"
                raise FeedError(FeedErrorCode.NO_ITEMS, f"the feed has {what}")
            return opened.etag, opened.last_modified

    def _check_categories(self, staging: generations.Staging, report: ImportReport) -> None:
        """Count the new catalogue's categories; name the categoryKeys it does not know."""
        links = catalog_product_categories
        with self.engine.connect() as conn:
            index = CategoryIndex.load(conn, staging.site_id)
            leaves = set(
                conn.execute(
                    select(links.c.category_id)
                    .where(links.c.site_id == staging.site_id, links.c.generation == staging.new)
                    .distinct()
                ).scalars()
            )
            used = index.with_ancestors(leaves)
            report.categories = len(used)
            rows = conn.execute(
                select(events_table.c.data)
                .where(
                    events_table.c.site_id == staging.site_id,
                    events_table.c.type == "CategoryPage",
                )
                .order_by(events_table.c.seq.desc())
                .limit(RECENT_CATEGORY_EVENTS)
            )
            seen: dict[str, int] = {}
            for (data,) in rows:
                key = orjson.loads(data).get("category_key")
                if isinstance(key, str) and key:
                    seen[key] = seen.get(key, 0) + 1
        for key, views in sorted(seen.items(), key=lambda kv: (-kv[1], kv[0])):
            if not index.match(key) & used:
                report.unknown_categories.add({"key": key, "events": views})

    def _failed(
        self,
        feed: Feed,
        import_id: str,
        report: ImportReport,
        error: FeedError,
        *,
        lease: generations.Lease | None,
        staging: generations.Staging | None = None,
    ) -> ImportOutcome:
        if lease is not None:
            try:
                generations.release(self.engine, lease, discard=True)
                if staging is not None:
                    self._drop_history(staging)
            except Exception:
                log.exception("cleaning up after failed import %s", import_id)
        body = report.to_dict()
        self.feeds.finish_import(feed, import_id, STATUS_FAILED, body, error=error.to_dict())
        return ImportOutcome(
            import_id, feed.site_id, feed.feed_id, STATUS_FAILED, body, error.to_dict()
        )

    def _drop_history(self, staging: generations.Staging) -> None:
        h = catalog_history
        with self.engine.begin() as conn:
            conn.execute(
                h.delete().where(
                    h.c.site_id == staging.site_id,
                    h.c.source == SOURCE_FEED,
                    h.c.at == staging.fetched_at,
                    h.c.ref == staging.import_id,
                )
            )

    def _retire(self, site_id: str, generation: int) -> None:
        """Delete the generation that was live before the switch."""
        try:
            delete_generation(self.engine, site_id, generation)
            with self.engine.begin() as conn:
                conn.execute(
                    update(catalog_state)
                    .where(
                        catalog_state.c.site_id == site_id,
                        catalog_state.c.retired_generation == generation,
                    )
                    .values(retired_generation=None)
                )
        except Exception:
            # The next import deletes it; the live catalogue is already switched.
            log.exception("deleting retired generation %s of site %s", generation, site_id)
