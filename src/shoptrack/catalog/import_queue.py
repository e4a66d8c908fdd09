"""Import threads shared fairly between sites.

A site's imports run one at a time (they would fight over the site's import lease anyway),
and sites with waiting imports take turns: a site goes to the back of the line after each of
its imports. So one site's slow feeds hold at most one of the ``threads`` threads, and
another site's import starts as soon as any thread is free, however many imports the slow
site has waiting. Jobs are plain callables; an import records its own outcome.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Hashable

log = logging.getLogger(__name__)

Job = Callable[[], object]


class ImportQueue:
    def __init__(self, threads: int, name: str = "feed-import") -> None:
        self.threads = threads
        self.name = name
        self._changed = threading.Condition()
        self._pending: dict[str, deque[tuple[Job, Hashable | None]]] = {}
        self._turns: deque[str] = deque()  # sites with pending jobs and none running, in turn
        self._running: set[str] = set()
        self._keys: set[Hashable] = set()  # of jobs pending or running
        self._workers: list[threading.Thread] = []
        self._closed = False

    def submit(self, site_id: str, job: Job, key: Hashable | None = None) -> bool:
        """Queue ``job`` for ``site_id``; False when closed or ``key`` is pending or running."""
        with self._changed:
            if self._closed or (key is not None and key in self._keys):
                return False
            if key is not None:
                self._keys.add(key)
            if site_id not in self._pending:
                self._pending[site_id] = deque()
                if site_id not in self._running:
                    self._turns.append(site_id)
            self._pending[site_id].append((job, key))
            if len(self._workers) < self.threads:  # started as work arrives
                worker = threading.Thread(
                    target=self._work, name=f"{self.name}-{len(self._workers) + 1}", daemon=True
                )
                self._workers.append(worker)
                worker.start()
            self._changed.notify()
            return True

    def _next(self) -> tuple[str, Job, Hashable | None] | None:
        with self._changed:
            while not self._turns and not self._closed:
                self._changed.wait()
            if self._closed:
                return None
            site_id = self._turns.popleft()
            job, key = self._pending[site_id].popleft()
            if not self._pending[site_id]:
                del self._pending[site_id]
            self._running.add(site_id)
            return site_id, job, key

    def _work(self) -> None:
        while (taken := self._next()) is not None:
            site_id, job, key = taken
            try:
                job()
            except Exception:
                log.exception("feed import job of site %s", site_id)
            finally:
                with self._changed:
                    self._running.discard(site_id)
                    self._keys.discard(key)
                    if site_id in self._pending:  # its next import: at the back of the line
                        self._turns.append(site_id)
                    self._changed.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is pending or running; False if ``timeout`` passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._pending and not self._running, timeout)

    def close(self, timeout: float | None = None) -> None:
        """Drop the jobs not started; wait for the running ones (up to ``timeout`` each)."""
        with self._changed:
            self._closed = True
            self._pending.clear()
            self._turns.clear()
            self._changed.notify_all()
        for worker in self._workers:
            worker.join(timeout)
