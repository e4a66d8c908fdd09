"""Processors follow the event log by cursor; this runs them, alone or inside ``serve``.

A processor reads the events after its cursor and derives its own tables from them (contact
links, catalogue values, recommendation counters, block reports: see ``builtin.py``). Each
batch runs in one transaction that also moves the cursor, so a batch is applied exactly once or
not at all. Cursors live in ``processor_cursors(name, position)``.

Several workers can run against one PostgreSQL database: a batch first locks its processor's
cursor row with ``FOR UPDATE SKIP LOCKED``, and a worker that finds it locked skips the
processor for this round. On SQLite a batch takes the database's write lock first.

PostgreSQL hands out ``seq`` numbers before commit, so a committed event can appear after a
higher one; a follower that moved past the hole would never see it. The runner therefore stops
in front of a hole in the sequence while a transaction that may fill it is still open
(:mod:`shoptrack.store.seq_holes`), for at most ``gap_wait_s``. Holes are also left by
rolled-back transactions and ignored duplicates (a browser's retry), and those never fill:
they are passed as soon as the transactions open when they were seen have ended, usually
within milliseconds. SQLite assigns ``seq`` at commit, one writer at a time: no holes to wait
for.

A batch runs inside a savepoint. When it fails, the runner bisects it, each part in its own
savepoint, down to the event(s) at fault: every other event is applied once, in ``seq`` order,
and the cursor moves past the batch. The failing event is recorded in ``processor_failures``
(:mod:`shoptrack.store.failures_repo`) and retried after a doubling delay, out of order, until
``max_attempts``; then it is skipped until ``replay``. So one bad event holds up neither its
own site's later events nor any other site's. A store error (connection lost, lock timeout:
:func:`is_transient`) is nobody's event: the batch is rolled back and the processor waits,
doubling the wait, without charging an attempt to any event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from shoptrack.errors import Unavailable
from shoptrack.metrics.instruments import instruments
from shoptrack.store import failures_repo
from shoptrack.store.db import WriteTurn
from shoptrack.store.failures_repo import Failure, backoff_s, failure_reason
from shoptrack.store.seq_holes import HoleWatch
from shoptrack.store.sql import insert_for, now_ms
from shoptrack.store.tables import events, processor_cursors

log = logging.getLogger(__name__)


class Processor(Protocol):
    """Derives state from the events with ``after < seq <= upto`` (in the runner's transaction)."""

    name: str

    def handle(self, conn: Connection, after: int, upto: int) -> None: ...


def cursor_position(conn: Connection, name: str) -> int:
    stmt = select(processor_cursors.c.position).where(processor_cursors.c.name == name)
    return int(conn.execute(stmt).scalar() or 0)


def claim_cursor(conn: Connection, name: str) -> int | None:
    """Lock the processor's cursor for this transaction; None when another worker holds it."""
    stmt = select(processor_cursors.c.position).where(processor_cursors.c.name == name)
    create = (
        insert_for(conn, processor_cursors)
        .values(name=name, position=0, updated_at=0)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    if conn.dialect.name != "postgresql":
        # This write takes SQLite's write lock before anything is read.
        conn.execute(create)
        return int(conn.execute(stmt).scalar_one())
    locked = stmt.with_for_update(skip_locked=True)
    value = conn.execute(locked).scalar()
    if value is None:
        if conn.execute(stmt).first() is not None:
            return None  # another worker holds it
        conn.execute(create)
        value = conn.execute(locked).scalar()
    return None if value is None else int(value)


def is_transient(exc: BaseException) -> bool:
    """A failure of the store rather than of an event: retried later, charged to no event."""
    if isinstance(exc, OperationalError | InterfaceError | TimeoutError):
        return True  # connection refused or lost, lock or statement timeout, no write turn
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def advance_cursor(conn: Connection, name: str, position: int) -> None:
    conn.execute(
        update(processor_cursors)
        .where(processor_cursors.c.name == name)
        .values(position=position, updated_at=now_ms())
    )


@dataclass
class StepResult:
    advanced: int = 0
    locked: bool = False
    retried: int = 0


@dataclass
class ProcessorRunner:
    engine: Engine
    processors: list[Processor]
    batch_size: int = 500
    poll_interval_s: float = 0.5
    gap_wait_s: float = 5.0
    # Attempts an event gets before it is skipped; the first retry's delay (then doubling).
    max_attempts: int = 3
    retry_backoff_s: float = 5.0
    _holes: dict[str, HoleWatch] = field(default_factory=dict)  # per processor
    # Per processor: store errors in a row, and the monotonic time it may run again.
    _store_errors: dict[str, int] = field(default_factory=dict)
    _paused_until: dict[str, float] = field(default_factory=dict)
    _write_turn: WriteTurn = field(init=False)

    def __post_init__(self) -> None:
        self._write_turn = WriteTurn(self.engine)

    def _horizon(self, conn: Connection, name: str, after: int, gap_wait: float) -> int:
        """The highest seq this batch may read: stops before a hole that may still fill."""
        stmt = (select(events.c.seq).where(events.c.seq > after).order_by(events.c.seq)).limit(
            self.batch_size
        )
        seqs = [int(s) for s in conn.execute(stmt).scalars()]
        if not seqs:
            return after
        readable = self._holes.setdefault(name, HoleWatch()).readable(conn, after, seqs, gap_wait)
        return seqs[readable - 1] if readable else after

    def step(self, processor: Processor, gap_wait: float | None = None) -> StepResult:
        """One batch of one processor, after its failed events that are due again.

        Nothing happens when it is idle or held elsewhere. A store error propagates (the
        transaction is rolled back whole); an event's own error is recorded, not raised.
        """
        with self.engine.connect() as conn:
            # A read-only look first: an idle processor must not take SQLite's write lock.
            position = cursor_position(conn, processor.name)
            last = int(conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one())
            if last <= position and not failures_repo.has_due(conn, processor.name, now_ms()):
                return StepResult()
        wait = self.gap_wait_s if gap_wait is None else gap_wait
        failed: list[Failure] = []
        with self._write_turn(), self.engine.begin() as conn:
            claimed = claim_cursor(conn, processor.name)
            if claimed is None:
                return StepResult(locked=True)
            retried = self._retry_due(conn, processor, failed)
            horizon = self._horizon(conn, processor.name, claimed, wait)
            if horizon > claimed:
                self._apply(conn, processor, claimed, horizon, failed)
                advance_cursor(conn, processor.name, horizon)
        self._log_failures(failed)  # after the commit: what is logged is what was recorded
        advanced = max(0, horizon - claimed)
        if advanced:
            instruments().processor_events.labels(processor.name).inc(advanced)
        if failed:
            instruments().processor_failures.labels(processor.name).inc(len(failed))
        return StepResult(advanced=advanced, retried=retried)

    def _attempt(
        self, conn: Connection, processor: Processor, after: int, upto: int
    ) -> Exception | None:
        """``handle`` in a savepoint: its error, with its writes undone; store errors raise."""
        try:
            with conn.begin_nested():
                processor.handle(conn, after, upto)
        except Exception as exc:
            if is_transient(exc):
                raise
            return exc
        return None

    def _apply(
        self, conn: Connection, processor: Processor, after: int, upto: int, failed: list[Failure]
    ) -> None:
        error = self._attempt(conn, processor, after, upto)
        if error is None:
            return
        seqs = [
            int(s)
            for s in conn.execute(
                select(events.c.seq)
                .where(events.c.seq > after, events.c.seq <= upto)
                .order_by(events.c.seq)
            ).scalars()
        ]
        if not seqs:
            raise error  # fails with no event to blame: the processor itself is broken
        self._isolate(conn, processor, after, seqs, error, failed)

    def _isolate(
        self,
        conn: Connection,
        processor: Processor,
        after: int,
        seqs: list[int],
        error: Exception,
        failed: list[Failure],
    ) -> None:
        """Bisect the failed range ``(after, seqs[-1]]``: good parts kept, bad events recorded.

        Parts run in ``seq`` order, so every good event sees the same earlier events it would
        have in one batch, less the failing ones.
        """
        if len(seqs) == 1:
            failed.append(self._record(conn, processor, seqs[0], error))
            return
        middle = len(seqs) // 2
        for part_after, part in ((after, seqs[:middle]), (seqs[middle - 1], seqs[middle:])):
            part_error = self._attempt(conn, processor, part_after, part[-1])
            if part_error is not None:
                self._isolate(conn, processor, part_after, part, part_error, failed)

    def _record(
        self, conn: Connection, processor: Processor, seq: int, error: Exception
    ) -> Failure:
        return failures_repo.record_failure(
            conn,
            processor.name,
            seq,
            failure_reason(error),
            now_ms(),
            self.max_attempts,
            self.retry_backoff_s,
        )

    def _retry_due(self, conn: Connection, processor: Processor, failed: list[Failure]) -> int:
        """Failed events whose next attempt is due, each alone; how many were tried."""
        seqs = failures_repo.due_seqs(conn, processor.name, now_ms(), self.batch_size)
        for seq in seqs:
            error = self._attempt(conn, processor, seq - 1, seq)
            if error is None:
                failures_repo.mark_resolved(conn, processor.name, seq, now_ms())
            else:
                failed.append(self._record(conn, processor, seq, error))
        return len(seqs)

    def _log_failures(self, failed: list[Failure]) -> None:
        for failure in failed:
            outcome = (
                "skipped until a replay"
                if failure.status == failures_repo.SKIPPED
                else "will be retried"
            )
            log.warning(
                "processor %s: event seq %d of site %s failed (attempt %d of %d), %s: %s",
                failure.processor,
                failure.seq,
                failure.site_id,
                failure.attempts,
                self.max_attempts,
                outcome,
                failure.reason,
            )

    def run_once(self) -> int:
        """One batch of every processor that is not waiting out a store error; how far they
        moved in total."""
        moved = 0
        for processor in self.processors:
            name = processor.name
            if time.monotonic() < self._paused_until.get(name, 0.0):
                continue
            try:
                moved += self.step(processor).advanced
            except Exception as exc:
                errors = self._store_errors[name] = self._store_errors.get(name, 0) + 1
                delay = backoff_s(self.retry_backoff_s, errors)
                self._paused_until[name] = time.monotonic() + delay
                log.error(
                    "processor %s failed (%s); next try in %.1f s", name, failure_reason(exc), delay
                )
            else:
                self._store_errors.pop(name, None)
        return moved

    def replay(self, site_id: str | None = None, processor: str | None = None) -> list[Failure]:
        """Skipped events get one more attempt, now for this runner's processors.

        Failures of processors this runner does not have stay due ("retrying") for the worker
        that runs them. Returns the replayed failures as they stand afterwards.
        """
        ids = self._requeue(site_id, processor)
        if not ids:
            return []
        deadline = time.monotonic() + 30.0
        for own in self.processors:
            if processor is not None and own.name != processor:
                continue
            while time.monotonic() < deadline:
                result = self._retry_step(own)
                if not result.locked and result.retried < self.batch_size:
                    break
                if result.locked:
                    time.sleep(0.05)  # a worker holds the cursor; it may take them itself
        with self.engine.connect() as conn:
            return failures_repo.failures_by_id(conn, ids)

    def requeue(self, site_id: str | None = None, processor: str | None = None) -> list[Failure]:
        """Skipped events become due again ("retrying") for the workers, which retry them."""
        ids = self._requeue(site_id, processor)
        with self.engine.connect() as conn:
            return failures_repo.failures_by_id(conn, ids) if ids else []

    def _requeue(self, site_id: str | None, processor: str | None) -> list[int]:
        with self._write_turn(), self.engine.begin() as conn:
            return list(failures_repo.requeue_skipped(conn, now_ms(), site_id, processor))

    def _retry_step(self, processor: Processor) -> StepResult:
        failed: list[Failure] = []
        with self._write_turn(), self.engine.begin() as conn:
            if claim_cursor(conn, processor.name) is None:
                return StepResult(locked=True)
            retried = self._retry_due(conn, processor, failed)
        self._log_failures(failed)
        return StepResult(retried=retried)

    def run_forever(self, stop: threading.Event) -> None:
        """``shoptrack worker``: poll until ``stop`` is set."""
        while not stop.is_set():
            if not self.run_once():
                stop.wait(self.poll_interval_s)

    def drain(self, timeout_s: float = 60.0, gap_wait_s: float | None = 0.0) -> None:
        """Process every event committed so far, synchronously (tests, erasure, replay).

        By default holes are not waited for (whatever is committed now is read: right for
        tests and a stopped collector); ``gap_wait_s=None`` keeps the runner's own wait.
        """
        with self.engine.connect() as conn:
            target = int(
                conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one()
            )
        deadline = time.monotonic() + timeout_s
        for processor in self.processors:
            while True:
                with self.engine.connect() as conn:
                    if cursor_position(conn, processor.name) >= target:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"processor {processor.name} did not catch up in time")
                result = self.step(processor, gap_wait=gap_wait_s)
                if result.locked or not result.advanced:
                    time.sleep(0.01)

    def catch_up_site(
        self, site_id: str, processors: Collection[str] | None = None, timeout_s: float = 30.0
    ) -> None:
        """Wait until the named processors (all by default) have read the site's events.

        For what one site needs (erasure): every event the site has committed so far, and no
        other site's. A processor's cursor passes an event it failed on (recorded in
        ``processor_failures``), so a bad event does not hold this up; what can is a processor
        that cannot move at all (its store failing, another worker holding its cursor, a
        hole in ``seq`` not yet closed) before the site's last event. Then this gives up after
        ``timeout_s`` with :class:`Unavailable` (503: try again), never waiting for good.
        """
        with self.engine.connect() as conn:
            target = int(
                conn.execute(
                    select(func.coalesce(func.max(events.c.seq), 0)).where(
                        events.c.site_id == site_id
                    )
                ).scalar_one()
            )
        deadline = time.monotonic() + timeout_s
        for processor in self.processors:
            if processors is not None and processor.name not in processors:
                continue
            self._reach(processor, target, deadline)

    def _reach(self, processor: Processor, target: int, deadline: float) -> None:
        pause = 0.01
        while True:
            with self.engine.connect() as conn:
                if cursor_position(conn, processor.name) >= target:
                    return
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"processor {processor.name} has not yet read the site's events up to seq "
                    f"{target}; try again later"
                )
            try:
                result = self.step(processor)
            except Exception as exc:  # its store, or itself: waited for, within the deadline
                log.warning(
                    "processor %s could not catch up (%s)", processor.name, failure_reason(exc)
                )
                result = StepResult()
            if result.advanced:
                pause = 0.01
                continue
            # Held by another worker, failing, or before a hole that may still fill.
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.5)


async def run_in_background(runner: ProcessorRunner, stop: asyncio.Event) -> None:
    """The in-process worker of ``shoptrack serve`` (started from the app's lifespan)."""
    while not stop.is_set():
        moved = await asyncio.to_thread(runner.run_once)
        if not moved:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), runner.poll_interval_s)
