"""Processors follow the event log by cursor; this runs them, alone or inside ``serve``.

A processor reads the events after its cursor and derives its own tables from them (contact
links today; triggers and reports later). Each batch runs in one transaction that also moves
the cursor, so a batch is applied exactly once or not at all. Cursors live in
``processor_cursors(name, position)``.

Several workers can run against one PostgreSQL database: a batch first locks its processor's
cursor row with ``FOR UPDATE SKIP LOCKED``, and a worker that finds it locked skips the
processor for this round. On SQLite a batch takes the database's write lock first.

PostgreSQL hands out ``seq`` numbers before commit, so a committed event can appear after a
higher one; a follower that moved past the hole would never see it. The runner therefore stops
in front of a hole in the sequence until it has stayed open ``gap_wait_s`` (holes are also left
by rolled-back transactions and ignored duplicates, and those never fill). SQLite assigns
``seq`` at commit, one writer at a time: no holes to wait for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shoptrack.config import Settings
from shoptrack.identity.crypto import Keyring
from shoptrack.store.db import WriteTurn
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
        (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(processor_cursors)
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


def advance_cursor(conn: Connection, name: str, position: int) -> None:
    conn.execute(
        update(processor_cursors)
        .where(processor_cursors.c.name == name)
        .values(position=position, updated_at=int(time.time() * 1000))
    )


@dataclass
class StepResult:
    advanced: int = 0
    locked: bool = False


@dataclass
class ProcessorRunner:
    engine: Engine
    processors: list[Processor]
    batch_size: int = 500
    poll_interval_s: float = 0.5
    gap_wait_s: float = 5.0
    _gaps: dict[tuple[str, int], float] = field(default_factory=dict)
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
        if conn.dialect.name != "postgresql":
            return seqs[-1]
        expected = after + 1
        now = time.monotonic()
        for seq in seqs:
            if seq != expected:
                first_seen = self._gaps.setdefault((name, expected), now)
                if now - first_seen < gap_wait:
                    return expected - 1
                self._gaps.pop((name, expected), None)
            expected = seq + 1
        return seqs[-1]

    def step(self, processor: Processor, gap_wait: float | None = None) -> StepResult:
        """One batch of one processor; nothing happens when it is idle or held elsewhere."""
        with self.engine.connect() as conn:
            # A read-only look first: an idle processor must not take SQLite's write lock.
            position = cursor_position(conn, processor.name)
            last = int(conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one())
        if last <= position:
            return StepResult()
        wait = self.gap_wait_s if gap_wait is None else gap_wait
        with self._write_turn(), self.engine.begin() as conn:
            claimed = claim_cursor(conn, processor.name)
            if claimed is None:
                return StepResult(locked=True)
            horizon = self._horizon(conn, processor.name, claimed, wait)
            if horizon <= claimed:
                return StepResult()
            processor.handle(conn, claimed, horizon)
            advance_cursor(conn, processor.name, horizon)
        return StepResult(advanced=horizon - claimed)

    def run_once(self) -> int:
        """One batch of every processor; how far they moved in total."""
        moved = 0
        for processor in self.processors:
            try:
                moved += self.step(processor).advanced
            except Exception as exc:
                # Never the exception's text: a statement error can carry row values.
                log.error("processor %s failed (%s); retrying", processor.name, type(exc).__name__)
        return moved

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


async def run_in_background(runner: ProcessorRunner, stop: asyncio.Event) -> None:
    """The in-process worker of ``shoptrack serve`` (started from the app's lifespan)."""
    while not stop.is_set():
        moved = await asyncio.to_thread(runner.run_once)
        if not moved:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), runner.poll_interval_s)


def build_runner(settings: Settings, engine: Engine, keyring: Keyring) -> ProcessorRunner:
    """Every processor of this version, in the order they run (add new ones here)."""
    from shoptrack.catalog.processor import CatalogEventProcessor
    from shoptrack.identity.processor import IdentityProcessor
    from shoptrack.recommend.scheduler import RecommendationScheduler
    from shoptrack.reports.processor import ReportsProcessor

    processors: list[Processor] = [
        IdentityProcessor(keyring, settings.identity_auto_create_contacts),
        CatalogEventProcessor(),
        RecommendationScheduler(engine, settings),
        ReportsProcessor(settings.attribution_window_days, settings.include_bots),
    ]
    return ProcessorRunner(
        engine,
        processors,
        batch_size=settings.processor_batch_size,
        poll_interval_s=settings.processor_poll_interval_s,
        gap_wait_s=settings.processor_gap_wait_s,
    )
