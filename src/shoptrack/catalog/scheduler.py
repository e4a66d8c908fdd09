"""Scheduled feed imports.

:class:`FeedScheduler` is self-contained: ``run_due(now)`` claims every feed whose next run has
come (a compare-and-set on ``next_run_at``, so several workers never start the same run) and
runs it, or hands it to its :class:`ImportQueue`: one job per feed, a site's feeds one at a
time (run side by side, all but one would fail as busy on the site's import lease), sites
taking turns on ``feed_import_threads`` threads, so a site with slow feeds holds up no other.
A feed still queued or importing from an earlier run skips this one. Each feed's failure is
recorded in its own import report without stopping the next. ``loop(stop)`` repeats that every
``feed_schedule_interval_s``, with a queue of its own unless it was given one. It runs on a
thread beside the event processors: inside ``shoptrack serve`` when ``run_processors`` is on
(``CatalogService``), else in ``shoptrack worker`` / ``shoptrack feeds worker``. The
catalogue's event processor itself is one of the worker's processors
(``shoptrack.processing.builtin.build_runner``).
"""

from __future__ import annotations

import logging
import threading
from functools import partial

from sqlalchemy import Engine

from shoptrack.catalog.feeds import Feed, FeedRepository
from shoptrack.catalog.import_queue import ImportQueue
from shoptrack.catalog.importer import FeedImporter, ImportOutcome
from shoptrack.config import Settings
from shoptrack.store.sql import now_ms

log = logging.getLogger(__name__)


class FeedScheduler:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        importer: FeedImporter | None = None,
        queue: ImportQueue | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.feeds = FeedRepository(engine, settings.feed_timezone)
        self.importer = importer or FeedImporter(engine, settings)
        self.queue = queue
        self.cancel = cancel or threading.Event()  # set: running imports stop at their next batch

    def run_due(self, now: int | None = None) -> list[ImportOutcome]:
        """Claim every due feed and queue it (with a queue) or run it here (outcomes of those)."""
        now = now if now is not None else now_ms()
        by_site: dict[str, list[Feed]] = {}
        for feed in self.feeds.due(now):
            try:
                claimed = self.feeds.claim(feed, now)
            except ValueError as exc:  # a schedule this version cannot read
                log.error("feed %s of site %s not run: %s", feed.feed_id, feed.site_id, exc)
                continue
            if claimed:  # else another worker took this run
                by_site.setdefault(feed.site_id, []).append(feed)
        outcomes: list[ImportOutcome] = []
        for feeds in by_site.values():
            if self.queue is not None:
                for feed in feeds:
                    self.queue.submit(
                        feed.site_id,
                        partial(self.run_in_turn, [feed]),
                        key=("scheduled", feed.site_id, feed.feed_id),
                    )
            else:
                outcomes.extend(self.run_in_turn(feeds))
        return outcomes

    def run_in_turn(self, feeds: list[Feed]) -> list[ImportOutcome]:
        """Import one site's feeds one after the other; a failing feed does not stop the rest."""
        outcomes: list[ImportOutcome] = []
        for feed in feeds:
            try:
                outcomes.append(self.importer.run(feed, trigger="schedule", cancel=self.cancel))
            except Exception:  # the importer records its failures; this one escaped it
                log.exception("scheduled import of feed %s (site %s)", feed.feed_id, feed.site_id)
        return outcomes

    def loop(self, stop: threading.Event, interval_s: float | None = None) -> None:
        """Run due feeds every interval until ``stop``; a queue of our own stops with us."""
        interval = interval_s or self.settings.feed_schedule_interval_s
        owned = self.queue is None
        if owned:
            self.queue = ImportQueue(self.settings.feed_import_threads)
        try:
            while not stop.is_set():
                try:
                    self.run_due()
                except Exception as exc:
                    log.error("feed scheduler tick failed (%s)", type(exc).__name__)
                stop.wait(interval)
        finally:
            if owned:
                assert self.queue is not None
                self.cancel.set()  # a running import stops at its next batch, keeps nothing
                self.queue.close()
                self.queue = None
