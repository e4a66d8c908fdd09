"""Group commit: concurrent requests share one transaction, and each is answered after it.

Requests hand their rows to :meth:`GroupCommitWriter.submit` and wait. One writer task takes
everything pending, commits it in a single transaction on a dedicated thread, then wakes all
the requests in that group. While a commit runs, new requests queue up for the next one, so
the batch size follows the load by itself; ``commit_interval`` adds a short wait to gather a
larger group when the writer was idle. When a group's commit fails, each request of it is
committed again on its own: a row the store refuses fails only the request that sent it (503,
nothing of it acknowledged; the client retries), never its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from shoptrack.errors import Unavailable
from shoptrack.metrics.instruments import instruments
from shoptrack.store.db import HeldConnection
from shoptrack.store.events_repo import EventLog
from shoptrack.store.rows import EventRow, RejectedRow

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Pending:
    rows: list[EventRow]
    rejected: list[RejectedRow]
    done: asyncio.Future[None]
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = len(self.rows) + len(self.rejected)


class GroupCommitWriter:
    def __init__(self, log_store: EventLog, commit_interval_s: float, max_events: int) -> None:
        self._store = log_store
        self._interval = commit_interval_s
        self._max_events = max_events
        self._pending: deque[_Pending] = deque()
        self._pending_size = 0
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shoptrack-commit")
        # Used by the executor's one thread only: no pool checkout (nor, on PostgreSQL, a
        # pre-ping round trip) per commit.
        self._connection = HeldConnection(log_store.engine)
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.commits = 0
        self.committed_rows = 0

    @property
    def running(self) -> bool:
        """Whether the writer task takes requests (started, not closing, not dead)."""
        return self._task is not None and not self._task.done() and not self._closing

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="group-commit")

    async def submit(self, rows: list[EventRow], rejected: list[RejectedRow]) -> None:
        """Return once the rows are committed; raise Unavailable if they could not be."""
        if not rows and not rejected:
            return
        if self._closing or self._task is None:
            raise Unavailable("the server is shutting down")
        item = _Pending(rows, rejected, asyncio.get_running_loop().create_future())
        self._pending.append(item)
        self._pending_size += item.size
        self._wakeup.set()
        # Not shielded: a request cancelled while it waits (its client left) cancels only its
        # own future; the writer skips it when answering and commits its rows all the same.
        await item.done

    async def close(self) -> None:
        """Commit what is pending, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        await asyncio.get_running_loop().run_in_executor(self._executor, self._connection.close)
        self._executor.shutdown(wait=True)

    def _take_group(self) -> list[_Pending]:
        group: list[_Pending] = []
        size = 0
        while self._pending and (not group or size + self._pending[0].size <= self._max_events):
            item = self._pending.popleft()
            group.append(item)
            size += item.size
        self._pending_size -= size
        if not self._pending:
            self._wakeup.clear()
        return group

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                if self._closing:
                    return
                # Idle: wait for a request, then give concurrent ones a moment to join it.
                # Under load this branch is not taken: the requests that arrived during a
                # commit make the next group, committed as soon as the previous one is done.
                self._wakeup.clear()
                await self._wakeup.wait()
                if not self._pending:
                    continue
                gather = self._interval > 0 and not self._closing
                if gather and self._pending_size < self._max_events:
                    await asyncio.sleep(self._interval)
            group = self._take_group()
            if not await self._commit(loop, group) and len(group) > 1:
                # One request's rows may be what the store refused: commit each request on
                # its own, so a single bad row cannot fail (and keep failing) everyone else.
                for item in group:
                    await self._commit(loop, [item])

    async def _commit(self, loop: asyncio.AbstractEventLoop, group: list[_Pending]) -> bool:
        """Commit a group and answer its requests; False (nothing answered) if it failed."""
        rows = [r for item in group for r in item.rows]
        rejected = [r for item in group for r in item.rejected]
        started = time.perf_counter()
        try:
            await loop.run_in_executor(
                self._executor, self._store.append, rows, rejected, self._connection
            )
        except Exception as exc:
            instruments().commit_failures.inc()
            log.error(
                "commit of %d events failed: %s", len(rows) + len(rejected), type(exc).__name__
            )
            if len(group) > 1:
                return False
            failure = Unavailable(f"the event store is unavailable ({type(exc).__name__})")
            for item in group:
                if not item.done.done():
                    item.done.set_exception(failure)
            return False
        self.commits += 1
        self.committed_rows += len(rows)
        _count_commit(group, rows, rejected, time.perf_counter() - started)
        for item in group:
            if not item.done.done():
                item.done.set_result(None)
        return True


def _count_commit(
    group: list[_Pending], rows: list[EventRow], rejected: list[RejectedRow], seconds: float
) -> None:
    """The metrics of one committed group: per group, not per event (a few updates per commit).

    Only what was committed counts: an accepted event is one its sender was told is stored.
    """
    metrics = instruments()
    metrics.commit_duration.observe(seconds)
    metrics.commit_group_events.observe(len(rows) + len(rejected))
    metrics.commit_group_requests.observe(len(group))
    if rows:
        metrics.events_accepted.inc(len(rows))
    for row in rejected:  # rare, and the reason is the point of counting them
        metrics.events_rejected.labels(row.code, row.step or "none").inc()
