"""The group-commit writer: a row the store refuses fails only the request that sent it."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from sqlalchemy import Engine, func, select, text

from shoptrack.collector.writer import GroupCommitWriter
from shoptrack.errors import Unavailable
from shoptrack.store.events_repo import EventLog
from shoptrack.store.rows import EventRow
from shoptrack.store.tables import events


def _row(event_id: str) -> EventRow:
    return EventRow(
        site_id="s1",
        event_id=event_id,
        type="PageView",
        occurred_at=1,
        received_at=1,
        visitor_id="v",
        session_id="s",
        contact_id=None,
        source="browser",
        cart_guid=None,
        data="{}",
        identity_enc=None,
    )


def test_one_refused_row_does_not_fail_the_rest_of_its_group(engine: Engine) -> None:
    async def scenario() -> list[object]:
        # A long gather window puts all three requests in one group.
        writer = GroupCommitWriter(EventLog(engine), commit_interval_s=0.05, max_events=100)
        writer.start()
        refused = dataclasses.replace(_row("bad"), type=None)  # NOT NULL column
        results = await asyncio.gather(
            writer.submit([_row("good-1")], []),
            writer.submit([refused], []),
            writer.submit([_row("good-2")], []),
            return_exceptions=True,
        )
        await writer.close()
        return results

    first, second, third = asyncio.run(scenario())
    assert first is None and third is None
    assert isinstance(second, Unavailable)
    with engine.connect() as conn:
        stored = conn.execute(select(events.c.event_id).order_by(events.c.event_id)).scalars()
        assert list(stored) == ["good-1", "good-2"]
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 2


def test_the_whole_group_commits_in_one_transaction(engine: Engine) -> None:
    async def scenario() -> int:
        writer = GroupCommitWriter(EventLog(engine), commit_interval_s=0.05, max_events=100)
        writer.start()
        await asyncio.gather(*(writer.submit([_row(f"e{i}")], []) for i in range(10)))
        await writer.close()
        return writer.commits

    assert asyncio.run(scenario()) == 1


@pytest.mark.parametrize("guid", [1e300, 10**200])
def test_a_numeric_guid_is_held_to_the_length_limit(guid: float) -> None:
    from shoptrack.errors import EventRejected
    from shoptrack.events.values import parse_key

    with pytest.raises(EventRejected, match="at most 128"):
        parse_key(guid, "GUID", required=True, max_length=128)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_dropped_connection_fails_one_commit_and_the_next_is_stored(engine: Engine) -> None:
    """The writer keeps its connection between commits (no pre-ping each time): one the
    server dropped fails the next commit with a 503, and the commit after it gets a fresh one."""

    async def scenario() -> list[object]:
        writer = GroupCommitWriter(EventLog(engine), commit_interval_s=0.0, max_events=100)
        writer.start()
        await writer.submit([_row("before")], [])
        with writer._connection.use() as connection:  # the writer is idle: its thread is not
            backend = connection.driver_connection.info.backend_pid
        with engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        results = [
            await asyncio.gather(writer.submit([_row(name)], []), return_exceptions=True)
            for name in ("lost", "after")
        ]
        await writer.close()
        return [result[0] for result in results]

    lost, after = asyncio.run(scenario())
    assert isinstance(lost, Unavailable)
    assert after is None
    with engine.connect() as conn:
        stored = conn.execute(select(events.c.event_id).order_by(events.c.event_id)).scalars()
        assert list(stored) == ["after", "before"]
