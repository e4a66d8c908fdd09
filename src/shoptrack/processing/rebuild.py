"""Recomputing the block reports from the whole event log (``shoptrack reports rebuild``)."""

from __future__ import annotations

from sqlalchemy import Engine

from shoptrack.config import Settings
from shoptrack.processing.runner import ProcessorRunner, advance_cursor, claim_cursor
from shoptrack.reports.attribution import NAME, ReportsProcessor
from shoptrack.reports.state import reset
from shoptrack.store.failures_repo import forget_failures


def rebuild(engine: Engine, settings: Settings, timeout_s: float = 3600.0) -> None:
    """Empty the report tables, move the ``reports`` cursor to the start and replay the log.

    The reset holds the cursor's lock, so a worker running meanwhile either finished its batch
    before (and the batch is replayed) or starts after, from the beginning; it then shares the
    replay with this call.
    """
    with engine.begin() as conn:
        claim_cursor(conn, NAME)
        reset(conn)
        # Replayed with the rest of the log: a retry on top would count them twice.
        forget_failures(conn, NAME)
        advance_cursor(conn, NAME, 0)
    runner = ProcessorRunner(
        engine,
        [ReportsProcessor(settings.attribution_window_days, settings.include_bots)],
        batch_size=max(settings.processor_batch_size, 2000),
        gap_wait_s=settings.processor_gap_wait_s,
        max_attempts=settings.processor_max_attempts,
        retry_backoff_s=settings.processor_retry_backoff_s,
    )
    # Holes in seq are waited for as the worker would: a live log may still fill them.
    runner.drain(timeout_s=timeout_s, gap_wait_s=None)
