"""Recomputing the block reports from the whole event log (``shoptrack reports rebuild``)."""

from __future__ import annotations

import time

from sqlalchemy import Connection, Engine

from shoptrack.config import Settings
from shoptrack.identity.crypto import Keyring
from shoptrack.processing.builtin import PROCESSORS
from shoptrack.processing.runner import advance_cursor, claim_cursor
from shoptrack.reports.attribution import NAME
from shoptrack.reports.state import reset
from shoptrack.store.failures_repo import forget_failures


def rebuild(engine: Engine, settings: Settings, timeout_s: float = 3600.0) -> None:
    """Empty the report tables, move the ``reports`` cursor to the start and replay the log.

    The reset holds the cursor's lock, so a worker running meanwhile either finished its batch
    before (and the batch is replayed) or starts after, from the beginning; it then shares the
    replay with this call.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        with engine.begin() as conn:
            if claim_cursor(conn, NAME) is not None:
                _reset(conn)
                break
        # A worker holds the cursor (PostgreSQL): wait for its batch, then reset under the lock.
        if time.monotonic() > deadline:
            raise TimeoutError("the reports processor's cursor stayed locked by a worker")
        time.sleep(0.05)
    # The reports processor reads no personal data: a throwaway keyring is all it is given.
    runner = PROCESSORS.build_runner(settings, engine, Keyring.generate(), only=[NAME])
    runner.batch_size = max(settings.processor_batch_size, 2000)
    # Holes in seq are waited for as the worker would: a live log may still fill them.
    runner.drain(timeout_s=timeout_s, gap_wait_s=None)


def _reset(conn: Connection) -> None:
    reset(conn)
    # Replayed with the rest of the log: a retry on top would count them twice.
    forget_failures(conn, NAME)
    advance_cursor(conn, NAME, 0)
