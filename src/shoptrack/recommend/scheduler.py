"""The worker's part: retrain on a schedule, fold new events in between.

:class:`RecommendationScheduler` is a processor (:mod:`shoptrack.processing.runner`): its
``handle`` only notes which sites have new training events (cheap, inside the runner's
transaction), and at most every ``recs_update_interval_s`` a background thread works through
those sites — a full retrain (:func:`~.training.train_site`) when the site's newest snapshot is
older than ``recs_train_interval_s`` (or missing), otherwise the new events are folded into the
popularity counters (:func:`~.training.update_counters`). Training runs outside the runner's
transaction, so the event log's writers never wait for it.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Connection, Engine, func, select

from shoptrack.config import Settings
from shoptrack.recommend.training import (
    TYPES,
    rewrite_pickled_blobs,
    train_site,
    update_counters,
)
from shoptrack.store.tables import events, rec_snapshots

log = logging.getLogger(__name__)


class RecommendationScheduler:
    name = "recommend"

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.train_interval_s = settings.recs_train_interval_s
        self.update_interval_s = settings.recs_update_interval_s
        self.include_bots = settings.include_bots
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # The first pass waits one interval: a process that only lives briefly trains nothing.
        self._last_run = time.monotonic()
        # Stored models of older releases are rewritten once, by the first pass of a worker.
        self._rewrite_pickles = True

    def handle(self, conn: Connection, after: int, upto: int) -> None:
        e = events.c
        found = conn.execute(
            select(e.site_id).where(e.seq > after, e.seq <= upto, e.type.in_(TYPES)).distinct()
        ).scalars()
        with self._lock:
            self._dirty.update(str(s) for s in found)
        self.kick()

    def kick(self) -> None:
        with self._lock:
            busy = self._thread is not None and self._thread.is_alive()
            due = time.monotonic() - self._last_run >= self.update_interval_s
            if busy or not due or not self._dirty:
                return
            self._last_run = time.monotonic()
            self._thread = threading.Thread(target=self.run_due, name="recs-train", daemon=True)
            self._thread.start()

    def run_due(self) -> None:
        if self._rewrite_pickles:
            self._rewrite_pickles = False
            try:
                if rewritten := rewrite_pickled_blobs(self.engine):
                    log.info("rewrote %d stored models from pickles in the current format",
                             rewritten)  # fmt: skip
            except Exception as exc:  # serving reads both formats: a failure is only noted
                log.error("rewriting pickled models failed: %s: %s", type(exc).__name__, exc)
        with self._lock:
            sites, self._dirty = sorted(self._dirty), set()
        for site_id in sites:
            try:
                if self._needs_full(site_id):
                    train_site(self.engine, site_id, include_bots=self.include_bots)
                else:
                    update_counters(self.engine, site_id, include_bots=self.include_bots)
            except Exception as exc:  # retried next pass; serving keeps the last good model
                log.error(
                    "recommendation training of %s failed, retried in %.0f s: %s: %s",
                    site_id, self.update_interval_s, type(exc).__name__, exc,
                )  # fmt: skip
                with self._lock:
                    self._dirty.add(site_id)

    def _needs_full(self, site_id: str) -> bool:
        with self.engine.connect() as conn:
            created = conn.execute(
                select(func.max(rec_snapshots.c.created_at)).where(
                    rec_snapshots.c.site_id == site_id
                )
            ).scalar()
        return created is None or time.time() * 1000 - int(created) >= self.train_interval_s * 1000
