"""store/db.py: the write turn that queues SQLite's writers in the kernel's order."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from shoptrack.store.db import WriteTurn, create_store_engine


def _sqlite(tmp_path: Path) -> Engine:
    return create_store_engine(f"sqlite:///{tmp_path / 'turns.db'}")


def test_a_waiting_writer_gets_its_turn_the_moment_it_is_free(tmp_path: Path) -> None:
    engine = _sqlite(tmp_path)
    holder, waiter = WriteTurn(engine), WriteTurn(engine)  # as two processes would have
    held = threading.Event()
    released_at: list[float] = []

    def hold() -> None:
        with holder():
            held.set()
            time.sleep(0.2)
            released_at.append(time.monotonic())

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    with waiter():
        got_at = time.monotonic()
    thread.join()
    # Not before the release, and not a polling interval after it.
    assert released_at[0] <= got_at < released_at[0] + 0.05
    engine.dispose()


def test_a_turn_taken_again_in_the_same_thread_does_not_wait_for_itself(tmp_path: Path) -> None:
    engine = _sqlite(tmp_path)
    # Two objects for one database, as the event log's and a processor runner's would be.
    outer, inner = WriteTurn(engine, timeout_s=1), WriteTurn(engine, timeout_s=1)
    with outer(), inner():
        pass
    with inner():  # and it was given back
        pass
    engine.dispose()


def test_a_turn_not_given_in_time_fails_the_write_and_is_not_kept_later(tmp_path: Path) -> None:
    engine = _sqlite(tmp_path)
    holder, waiter = WriteTurn(engine), WriteTurn(engine, timeout_s=0.2)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder():
            held.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    started = time.monotonic()
    with pytest.raises(TimeoutError), waiter():
        pass
    assert 0.2 <= time.monotonic() - started < 1.0
    release.set()
    thread.join()
    # The turn the abandoned wait got after its deadline was given back, not kept: another
    # thread (another open file) gets it.
    outcome: list[str] = []

    def take_elsewhere() -> None:
        with WriteTurn(engine, timeout_s=1)():
            outcome.append("given")

    other = threading.Thread(target=take_elsewhere)
    other.start()
    other.join()
    assert outcome == ["given"]
    engine.dispose()


def test_the_turn_file_sits_beside_the_database(tmp_path: Path) -> None:
    engine = _sqlite(tmp_path)
    with WriteTurn(engine)():
        assert (tmp_path / "turns.db-write-turn").exists()
    engine.dispose()


def test_no_turns_where_sqlite_retries_are_not_in_play(tmp_path: Path) -> None:
    memory = create_store_engine("sqlite:///:memory:")
    postgres = create_store_engine("postgresql://nobody@127.0.0.1:1/none")  # never connected
    for engine in (memory, postgres):
        with WriteTurn(engine)():
            pass
    assert list(tmp_path.iterdir()) == []
    memory.dispose()
    postgres.dispose()
