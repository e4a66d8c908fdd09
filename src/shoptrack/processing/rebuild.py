"""Recomputing the reports from the whole event log (``shoptrack reports rebuild``).

Three processors keep reports: ``reports`` (the recommendation blocks), ``trigger_reports``
(the trigger messages' clicks and orders) and ``analytics`` (the dashboard's traffic counts).
All are emptied and replayed together.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine

from shoptrack.analytics import processor as traffic
from shoptrack.analytics import state as traffic_state
from shoptrack.config import Settings
from shoptrack.identity.crypto import Keyring
from shoptrack.processing.builtin import PROCESSORS
from shoptrack.processing.runner import advance_cursor, claim_cursor
from shoptrack.reports import state as block_state
from shoptrack.reports.attribution import NAME
from shoptrack.store.failures_repo import forget_failures
from shoptrack.triggers import report as trigger_report
from shoptrack.triggers import report_state as trigger_state

# Each report processor and how its derived rows are forgotten.
REPORTS: dict[str, Callable[[Connection], None]] = {
    NAME: block_state.reset,
    trigger_report.NAME: trigger_state.reset,
    traffic.NAME: traffic_state.reset,
}


def rebuild(engine: Engine, settings: Settings, timeout_s: float = 3600.0) -> None:
    """Empty the report tables, move the report cursors to the start and replay the log.

    Each reset holds its cursor's lock, so a worker running meanwhile either finished its batch
    before (and the batch is replayed) or starts after, from the beginning; it then shares the
    replay with this call.
    """
    deadline = time.monotonic() + timeout_s
    for name, reset in REPORTS.items():
        while True:
            with engine.begin() as conn:
                if claim_cursor(conn, name) is not None:
                    _reset(conn, name, reset)
                    break
            # A worker holds the cursor (PostgreSQL): wait for its batch, then reset under
            # the lock.
            if time.monotonic() > deadline:
                raise TimeoutError(f"the {name} processor's cursor stayed locked by a worker")
            time.sleep(0.05)
    # The report processors read no personal data: a throwaway keyring is all they are given.
    runner = PROCESSORS.build_runner(settings, engine, Keyring.generate(), only=list(REPORTS))
    runner.batch_size = max(settings.processor_batch_size, 2000)
    # Holes in seq are waited for as the worker would: a live log may still fill them.
    runner.drain(timeout_s=timeout_s, gap_wait_s=None)


def _reset(conn: Connection, name: str, reset: Callable[[Connection], None]) -> None:
    reset(conn)
    # Replayed with the rest of the log: a retry on top would count them twice.
    forget_failures(conn, name)
    advance_cursor(conn, name, 0)
