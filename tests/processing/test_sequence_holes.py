"""Holes in PostgreSQL's ``seq``: waited for while a transaction may still fill them, no longer.

PostgreSQL hands out ``seq`` before commit, so a hole may be an insert still in flight; it may
also be a number no transaction will ever commit (an ignored duplicate, a rolled-back group).
The runner used to wait ``gap_wait_s`` at every hole, one after another: a log with many old
holes (a rebuild of the reports, a worker catching up) took that long per hole. A hole can only
still fill while a transaction that began before it was seen is open, so once none is, it is
passed at once.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, func, select

from shoptrack.identity.crypto import Keyring
from shoptrack.processing.runner import ProcessorRunner, cursor_position
from shoptrack.store.events_repo import EventLog
from shoptrack.store.tables import events
from tests.support.identity import event_row

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def _positions(engine: Engine, runner: ProcessorRunner) -> set[int]:
    with engine.connect() as conn:
        return {cursor_position(conn, processor.name) for processor in runner.processors}


def _last_seq(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.max(events.c.seq))).scalar_one())


def test_holes_of_ignored_duplicates_are_passed_at_once(
    engine: Engine, keyring: Keyring, event_log: EventLog, runner: ProcessorRunner, site_id: str
) -> None:
    for i in range(5):
        row = event_row(keyring, site_id, f"v{i}")
        event_log.append([row], [])
        event_log.append([row], [])  # a retried delivery: ignored, its seq left unused
    with engine.connect() as conn:
        stored = list(conn.execute(select(events.c.seq).order_by(events.c.seq)).scalars())
    assert len(stored) == 5 and stored[-1] - stored[0] == 8  # four holes between them

    runner.gap_wait_s = 60.0
    started = time.monotonic()
    runner.drain(timeout_s=30, gap_wait_s=None)  # the worker's own wait, as a rebuild uses
    assert time.monotonic() - started < 5
    assert _positions(engine, runner) == {stored[-1]}


def test_a_hole_held_by_an_open_transaction_is_waited_for_until_it_commits(
    engine: Engine, keyring: Keyring, event_log: EventLog, runner: ProcessorRunner, site_id: str
) -> None:
    event_log.append([event_row(keyring, site_id, "first")], [])
    runner.drain()
    before = _last_seq(engine)
    late = event_row(keyring, site_id, "late")
    values = {k: getattr(late, k) for k in late.__slots__}
    with engine.connect() as open_conn:
        transaction = open_conn.begin()
        held = int(
            open_conn.execute(events.insert().values(**values).returning(events.c.seq)).scalar_one()
        )
        event_log.append([event_row(keyring, site_id, "early")], [])
        assert held == before + 1 and _last_seq(engine) == before + 2

        runner.gap_wait_s = 60.0
        for _ in range(3):
            runner.run_once()
            time.sleep(0.05)
        assert _positions(engine, runner) == {before}  # in front of the hole: it may fill

        transaction.commit()
    runner.run_once()
    assert _positions(engine, runner) == {before + 2}
