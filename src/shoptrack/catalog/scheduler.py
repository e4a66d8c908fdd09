"""Scheduled feed imports.

:class:`FeedScheduler` is self-contained: ``run_due(now)`` claims every feed whose next run has
come (a compare-and-set on ``next_run_at``, so several workers never start the same run) and
runs it, or hands it to ``submit``. A site's due feeds run one after the other (they share the
site's import lease: run side by side, all but one would fail as busy), and each feed's
failure is recorded in its own import report without stopping the next. ``loop(stop)``
repeats that every ``feed_schedule_interval_s``. It runs on a thread beside the event
processors: inside ``shoptrack serve`` when ``run_processors`` is on (``CatalogService``), else
in ``shoptrack feeds worker``. The catalogue's event processor itself is one of the worker's
processors (``shoptrack.processing.builtin.build_runner``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future

from sqlalchemy import Engine

from shoptrack.catalog.feeds import Feed, FeedRepository
from shoptrack.catalog.importer import FeedImporter, ImportOutcome
from shoptrack.config import Settings
from shoptrack.store.sql import now_ms

log = logging.getLogger(__name__)
# Takes the due feeds of one site, to be imported in turn.
Submit = Callable[[list[Feed]], "Future[list[ImportOutcome]] | None"]


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
            if self.submit is not None:
                self.submit(feeds)
            else:
                outcomes.extend(self.run_in_turn(feeds))
        return outcomes

    def run_in_turn(
        self, feeds: list[Feed], cancel: threading.Event | None = None
    ) -> list[ImportOutcome]:
        """Import one site's feeds one after the other; a failing feed does not stop the rest."""
        outcomes: list[ImportOutcome] = []
        for feed in feeds:
            try:
                outcomes.append(self.importer.run(feed, trigger="schedule", cancel=cancel))
            except Exception:  # the importer records its failures; this one escaped it
                log.exception("scheduled import of feed %s (site %s)", feed.feed_id, feed.site_id)
        return outcomes

    def loop(self, stop: threading.Event, interval_s: float | None = None) -> None:
        interval = interval_s or self.settings.feed_schedule_interval_s
        while not stop.is_set():
            try:
                self.run_due()
            except Exception as exc:
                log.error("feed scheduler tick failed (%s)", type(exc).__name__)
            stop.wait(interval)
