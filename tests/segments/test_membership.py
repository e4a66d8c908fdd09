"""Membership kept as events arrive, refreshed in full as time passes, and erasure."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from shoptrack.identity.crypto import Keyring
from shoptrack.identity.erasure import erase_contact
from shoptrack.processing.builtin import ERASURE_STEPS
from shoptrack.segments.membership import refresh
from shoptrack.segments.processor import SegmentsProcessor
from shoptrack.segments.refresher import SegmentRefresher
from shoptrack.segments.repo import create_segment, get_segment
from shoptrack.store.tables import (
    events,
    segment_changes,
    segment_counts,
    segment_facts,
    segment_members,
)
from tests.segments.world import DAY, HOUR, NOW, World

VIEWED_TWICE_THIS_WEEK = {
    "match": {
        "condition": "event",
        "event": "viewed",
        "count": {"op": ">=", "value": 2},
        "within_days": 7,
    }
}


@pytest.fixture
def world(engine: Engine) -> World:
    return World(engine)


def _process(world: World) -> None:
    with world.engine.begin() as conn:
        upto = int(
            conn.execute(select(events.c.seq).order_by(events.c.seq.desc()).limit(1)).scalar() or 0
        )
        SegmentsProcessor().handle(conn, world.read_upto, upto)
    world.read_upto = upto


def _members(world: World, segment_id: int) -> set[str]:
    with world.engine.connect() as conn:
        return set(
            conn.execute(
                select(segment_members.c.person).where(segment_members.c.segment_id == segment_id)
            ).scalars()
        )


def _changes(world: World, segment_id: int) -> list[tuple[str, str]]:
    with world.engine.connect() as conn:
        rows = conn.execute(
            select(segment_changes.c.person, segment_changes.c.change)
            .where(segment_changes.c.segment_id == segment_id)
            .order_by(segment_changes.c.change_id)
        )
        return [(r.person, r.change) for r in rows]


def test_people_enter_as_their_events_arrive_and_leave_as_time_passes(world: World) -> None:
    with world.engine.begin() as conn:
        segment = create_segment(conn, world.site_id, "Keen", VIEWED_TWICE_THIS_WEEK)
    world.view("v1", "p1", NOW - HOUR)
    _process(world)
    assert _members(world, segment.segment_id) == set()
    # The second view arrives: the processor's incremental update takes v1 in.
    now = int(time.time() * 1000)
    world.view("v1", "p2", now - HOUR)
    world.view("v1", "p3", now - HOUR)
    world.view("v2", "p1", now - HOUR)
    _process(world)
    assert _members(world, segment.segment_id) == {"~v1"}
    assert _changes(world, segment.segment_id) == [("~v1", "entered")]
    # Linking the visitor to a contact: the person is now the contact.
    world.contact("c1", "v1")
    world.event("CustomerData", "v1", now)
    _process(world)
    assert _members(world, segment.segment_id) == {"c1"}
    assert _changes(world, segment.segment_id)[-2:] == [("c1", "entered"), ("~v1", "left")]
    # Eight days on, a full refresh finds the views out of the window.
    with world.engine.begin() as conn:
        result = refresh(conn, get_segment(conn, world.site_id, segment.segment_id), now + 8 * DAY)
    assert (result.entered, result.left, result.members) == (0, 1, 0)
    assert _members(world, segment.segment_id) == set()
    with world.engine.connect() as conn:
        counts = (
            conn.execute(
                select(segment_counts.c.members)
                .where(segment_counts.c.segment_id == segment.segment_id)
                .order_by(segment_counts.c.at)
            )
            .scalars()
            .all()
        )
        stored = get_segment(conn, world.site_id, segment.segment_id)
    assert counts[-1] == 0 and 1 in counts
    assert stored.members == 0 and stored.refreshed_at == now + 8 * DAY


def test_replaying_a_batch_adds_no_fact_twice(world: World) -> None:
    world.view("v1", "p1", NOW - HOUR)
    _process(world)
    with world.engine.begin() as conn:
        SegmentsProcessor().handle(conn, 0, world.read_upto)
    with world.engine.connect() as conn:
        assert len(conn.execute(select(segment_facts)).all()) == 1


def test_an_erased_contact_leaves_every_segment_and_its_facts_go(
    world: World, tmp_path: Path
) -> None:
    now = int(time.time() * 1000)
    world.contact("c1", "v1", email=True)
    world.view("v1", "p1", now - HOUR)
    world.view("v1", "p2", now - HOUR)
    with world.engine.begin() as conn:
        segment = create_segment(conn, world.site_id, "Keen", VIEWED_TWICE_THIS_WEEK)
    _process(world)
    assert _members(world, segment.segment_id) == {"c1"}
    keyring = Keyring.load_or_create(tmp_path / "keys")
    report = erase_contact(
        world.engine, keyring, world.site_id, "c1", actor="test", also=ERASURE_STEPS
    )
    assert report.elsewhere["segment_memberships_deleted"] >= 2  # the member and its entry
    assert _members(world, segment.segment_id) == set()
    assert all(person != "c1" for person, _ in _changes(world, segment.segment_id))
    with world.engine.connect() as conn:
        assert conn.execute(select(segment_facts)).all() == []
        assert get_segment(conn, world.site_id, segment.segment_id).members == 0


def test_the_worker_refreshes_segments_not_refreshed_for_an_interval(world: World) -> None:
    now = int(time.time() * 1000)
    world.view("v1", "p1", now - HOUR)
    world.view("v1", "p2", now - HOUR)
    with world.engine.begin() as conn:
        segment = create_segment(conn, world.site_id, "Keen", VIEWED_TWICE_THIS_WEEK)
    world.facts()  # facts only: no incremental update has run
    refresher = SegmentRefresher(world.engine, interval_s=60)
    assert [r.members for r in refresher.refresh_due()] == [1]
    assert refresher.refresh_due() == []  # refreshed a moment ago: not due
    assert _members(world, segment.segment_id) == {"~v1"}
