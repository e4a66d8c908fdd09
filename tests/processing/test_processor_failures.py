"""One bad event must not stall a processor: it is isolated, retried, skipped, and replayable."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from shoptrack.processing.runner import ProcessorRunner, cursor_position
from shoptrack.store.failures_repo import failure_reason
from tests.support.failing import (
    SECRET,
    MarkerProcessor,
    UnreachableStoreProcessor,
    event_ids,
    failure_rows,
    log_events,
    marker_table,
    seen_seqs,
)


@pytest.fixture
def marked(engine: Engine) -> Iterator[Engine]:
    with marker_table(engine):
        yield engine


def test_a_bad_event_is_retried_then_skipped_and_nothing_else_waits(marked: Engine) -> None:
    engine = marked
    marker = MarkerProcessor()
    runner = ProcessorRunner(
        engine, [marker], gap_wait_s=0, batch_size=4, max_attempts=3, retry_backoff_s=0.3
    )
    # Site a's bad event shares its batch with site b's events; later batches follow.
    a_ids = event_ids(6, poison_at=1)
    b_ids = event_ids(6)
    seqs: list[int] = []
    for a_id, b_id in zip(a_ids, b_ids, strict=True):
        seqs += log_events(engine, "site-a", [a_id]) + log_events(engine, "site-b", [b_id])
    poison_seq = seqs[2]

    runner.drain()
    with engine.connect() as conn:
        assert cursor_position(conn, "marker") == seqs[-1]
    # Every other event, of both sites, was handled exactly once (marker_seen's key says so).
    assert seen_seqs(engine) == [s for s in seqs if s != poison_seq]
    [failure] = failure_rows(engine)
    assert failure["processor"] == "marker"
    assert failure["site_id"] == "site-a"
    assert failure["seq"] == poison_seq
    assert failure["event_id"] == a_ids[1]
    assert failure["status"] == "retrying"
    assert failure["attempts"] == 1
    assert failure["reason"] == "ValueError: cannot handle this event"
    assert failure["first_failed_at"] == failure["last_failed_at"]

    runner.run_once()
    assert failure_rows(engine)[0]["attempts"] == 1  # not due yet: retries wait their turn
    time.sleep(0.35)
    runner.run_once()
    [failure] = failure_rows(engine)
    assert (failure["status"], failure["attempts"]) == ("retrying", 2)
    time.sleep(0.65)  # the wait doubles
    runner.run_once()
    [failure] = failure_rows(engine)
    assert (failure["status"], failure["attempts"]) == ("skipped", 3)
    assert failure["next_attempt_at"] is None
    calls = marker.calls
    runner.run_once()
    assert marker.calls == calls  # skipped: no more automatic attempts
    [failure] = failure_rows(engine)
    assert failure["attempts"] == 3
    assert isinstance(failure["last_failed_at"], int)
    assert isinstance(failure["first_failed_at"], int)
    assert failure["last_failed_at"] >= failure["first_failed_at"]

    later = log_events(engine, "site-a", event_ids(3))
    runner.drain()
    assert seen_seqs(engine) == [s for s in seqs + later if s != poison_seq]


def test_the_reason_holds_no_sql_parameters_and_logs_name_the_event(
    marked: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    engine = marked
    runner = ProcessorRunner(engine, [MarkerProcessor(how="sql")], gap_wait_s=0, max_attempts=2)
    seqs = log_events(engine, "site-a", event_ids(3, poison_at=1))
    with caplog.at_level(logging.WARNING, logger="shoptrack.processing.runner"):
        runner.drain()
    [failure] = failure_rows(engine)
    reason = str(failure["reason"])
    assert reason.startswith("IntegrityError: ")
    assert SECRET not in reason and "[parameters" not in reason and "INSERT" not in reason
    assert seen_seqs(engine) == [seqs[0], seqs[2]]
    messages = [record.getMessage() for record in caplog.records]
    assert any(
        "marker" in m and "site-a" in m and f"seq {seqs[1]}" in m and "IntegrityError" in m
        for m in messages
    ), messages
    assert not any(SECRET in m for m in messages)


def test_a_store_error_backs_off_and_burns_no_attempts(marked: Engine) -> None:
    engine = marked
    processor = UnreachableStoreProcessor()
    runner = ProcessorRunner(engine, [processor], gap_wait_s=0, max_attempts=2, retry_backoff_s=0.5)
    seqs = log_events(engine, "site-a", event_ids(3))
    assert runner.run_once() == 0
    assert processor.calls == 1
    for _ in range(20):  # as fast as a loop can spin: the processor is left alone
        runner.run_once()
    assert processor.calls == 1
    time.sleep(0.6)
    runner.run_once()
    assert processor.calls == 2  # tried again after the backoff, which now doubles
    processor.reachable = True
    runner.run_once()
    assert processor.calls == 2
    time.sleep(1.1)
    assert runner.run_once() > 0
    assert processor.handled == [(0, seqs[-1])]
    assert failure_rows(engine) == []  # no innocent event was charged an attempt
    with engine.connect() as conn:
        assert cursor_position(conn, "unreachable") == seqs[-1]


def test_replay_runs_skipped_events_again_and_resolves_them(marked: Engine) -> None:
    engine = marked
    marker = MarkerProcessor()
    runner = ProcessorRunner(engine, [marker], gap_wait_s=0, max_attempts=1, retry_backoff_s=0)
    seqs = log_events(engine, "site-a", event_ids(3, poison_at=2))
    other = log_events(engine, "site-b", event_ids(2, poison_at=0))
    runner.drain()
    assert [(f["site_id"], f["status"]) for f in failure_rows(engine)] == [
        ("site-a", "skipped"),
        ("site-b", "skipped"),
    ]

    # Still broken: one more attempt, still listed as skipped.
    replayed = runner.replay(site_id="site-a")
    assert [(f.seq, f.status, f.attempts) for f in replayed] == [(seqs[2], "skipped", 2)]

    marker.broken = False
    replayed = runner.replay(site_id="site-a", processor="marker")
    assert [(f.seq, f.status, f.attempts) for f in replayed] == [(seqs[2], "resolved", 2)]
    assert replayed[0].resolved_at is not None
    assert seen_seqs(engine) == sorted([*seqs, other[1]])
    # The other site's failure was not part of that replay.
    assert [(f["seq"], f["status"]) for f in failure_rows(engine)][1] == (other[0], "skipped")
    assert runner.replay(processor="no-such-processor") == []
    runner.replay()
    assert seen_seqs(engine) == sorted([*seqs, *other])


def test_a_replay_for_another_process_waits_for_its_worker(marked: Engine) -> None:
    engine = marked
    marker = MarkerProcessor()
    worker = ProcessorRunner(engine, [marker], gap_wait_s=0, max_attempts=1, retry_backoff_s=0)
    seqs = log_events(engine, "site-a", event_ids(2, poison_at=1))
    worker.drain()
    # A runner without the "marker" processor (the API's, the CLI's) queues the replay.
    elsewhere = ProcessorRunner(engine, [], gap_wait_s=0, max_attempts=1, retry_backoff_s=0)
    [queued] = elsewhere.replay()
    assert (queued.status, queued.attempts) == ("retrying", 1)
    marker.broken = False
    worker.run_once()
    [failure] = failure_rows(engine)
    assert (failure["status"], failure["attempts"]) == ("resolved", 1)
    assert seen_seqs(engine) == seqs


def test_a_reason_never_keeps_a_quoted_value() -> None:
    # Messages quote what they choke on; a reason is stored, listed and logged, so none may.
    for exc in (
        ValueError(f"invalid literal for int() with base 10: '{SECRET}'"),
        KeyError(SECRET),
        RuntimeError(f'invalid input syntax for type integer: "{SECRET}"'),
    ):
        reason = failure_reason(exc)
        assert SECRET not in reason and reason.startswith(type(exc).__name__), reason
