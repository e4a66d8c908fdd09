"""When a hole in ``seq`` may still fill: while a transaction begun before it was seen is open."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from shoptrack.store.seq_holes import HoleWatch, database_time, may_still_fill


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_transaction_open_before_the_hole_was_seen_may_fill_it(engine: Engine) -> None:
    with engine.connect() as other, engine.connect() as follower:
        begun = other.begin()
        other.execute(text("SELECT 1"))  # the transaction has begun
        seen = database_time(follower)
        follower.rollback()
        assert may_still_fill(follower, seen)
        follower.rollback()  # PostgreSQL answers from one view of the sessions per transaction
        begun.commit()
        assert not may_still_fill(follower, seen)
        follower.rollback()
        later = other.begin()
        other.execute(text("SELECT 1"))  # began after the hole was seen: it cannot hold it
        assert not may_still_fill(follower, seen)
        later.rollback()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_has_no_holes_to_wait_for(engine: Engine) -> None:
    with engine.connect() as conn:
        assert HoleWatch().readable(conn, 0, [2, 5, 9], wait_s=60) == 3
