"""Scheduled feed imports.

:class:`FeedScheduler` is self-contained: ``run_due(now)`` claims every feed whose next run has
come (a compare-and-set on ``next_run_at``, so several workers never start the same run) and
runs it, or hands it to ``submit``; ``loop(stop)`` repeats that every
``feed_schedule_interval_s``. It runs on a thread beside the event processors: inside
``shoptrack serve`` when ``run_processors`` is on (``CatalogService``), else in
``shoptrack feeds worker``. The catalogue's event processor itself is one of the worker's
processors (``shoptrack.worker.build_runner``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future

from sqlalchemy import Engine

from shoptrack.catalog.feeds import Feed, FeedRepository
from shoptrack.catalog.importer import FeedImporter, ImportOutcome
from shoptrack.catalog.store_ops import now_ms
from shoptrack.config import Settings

log = logging.getLogger(__name__)
Submit = Callable[[Feed], "Future[ImportOutcome] | None"]


class FeedScheduler:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        importer: FeedImporter | None = None,
        submit: Submit | None = None,
    ) -> None:
        self.settings = settings
        self.feeds = FeedRepository(engine, settings.feed_timezone)
        self.importer = importer or FeedImporter(engine, settings)
        self.submit = submit

    def run_due(self, now: int | None = None) -> list[ImportOutcome]:
        """Claim and run (or submit) every due feed; the outcomes of those run here."""
        now = now if now is not None else now_ms()
        outcomes: list[ImportOutcome] = []
        for feed in self.feeds.due(now):
            if not self.feeds.claim(feed, now):
                continue  # another worker took this run
            if self.submit is not None:
                self.submit(feed)
            else:
                outcomes.append(self.importer.run(feed, trigger="schedule"))
        return outcomes

    def loop(self, stop: threading.Event, interval_s: float | None = None) -> None:
        interval = interval_s or self.settings.feed_schedule_interval_s
        while not stop.is_set():
            try:
                self.run_due()
            except Exception as exc:
                log.error("feed scheduler tick failed (%s)", type(exc).__name__)
            stop.wait(interval)
