"""Contact fields (city, custom fields) as segment conditions, through their blind indexes:
written by the real contact service, evaluated in SQL, kept current by the worker's rounds."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import Engine, select

from shoptrack.errors import ShoptrackError
from shoptrack.identity.contacts import ContactService
from shoptrack.identity.crypto import Keyring
from shoptrack.identity.erasure import erase_contact
from shoptrack.processing.builtin import ERASURE_STEPS
from shoptrack.segments.compile import Scope, evaluate
from shoptrack.segments.definition import as_json, parse_definition
from shoptrack.segments.refresher import SegmentRefresher
from shoptrack.segments.repo import create_segment
from shoptrack.segments.service import SegmentService
from shoptrack.store.tables import contact_field_index, segment_changes, segment_members
from tests.segments.world import World


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.generate()


@pytest.fixture
def world(engine: Engine) -> World:
    return World(engine)


@pytest.fixture
def people(engine: Engine, keyring: Keyring, world: World) -> ContactService:
    return ContactService(engine, keyring)


def _put(people: ContactService, *rows: dict[str, Any]) -> list[str]:
    result = people.upsert_many("shop", list(rows))
    assert not result.failed, result.failed
    return [str(c["id"]) for c in result.contacts]


def _match(world: World, keyring: Keyring, **condition: Any) -> set[str]:
    definition = parse_definition({"match": {"condition": "contact", **condition}})
    with world.engine.connect() as conn:
        return evaluate(conn, definition, Scope("shop", int(time.time() * 1000)), keyring)


def test_city_equals_in_and_is_set_ignore_case_space_and_unicode_form(
    world: World, keyring: Keyring, people: ContactService
) -> None:
    praha, brno, nowhere, fancy = _put(
        people,
        {"email": "a@example.com", "city": "  PRAHA "},
        {"email": "b@example.com", "city": "Brno"},
        {"email": "c@example.com"},
        {
            "email": "d@example.com",
            "city": "ＰＲＡＨＡ",
        },  # full-width letters: NFKC makes them Praha
    )
    world.view("v1", "p1", int(time.time() * 1000))  # an anonymous visitor has no fields
    assert _match(world, keyring, field="city", equals="praha") == {praha, fancy}
    assert _match(world, keyring, field="city", equals="Praha  ") == {praha, fancy}
    assert _match(world, keyring, field="city", **{"in": ["brno", "Ostrava"]}) == {brno}
    assert _match(world, keyring, field="city", is_set=True) == {praha, brno, fancy}
    assert _match(world, keyring, field="city", is_set=False) == {nowhere}
    assert _match(world, keyring, field="city", equals="Plzeň") == set()


def test_custom_fields_by_name_with_numbers_and_booleans(
    world: World, keyring: Keyring, people: ContactService
) -> None:
    gold, silver, plain = _put(
        people,
        {"email": "a@example.com", "fields": {"Tier": "Gold", "orders": 3, "vip": True}},
        {"email": "b@example.com", "fields": {"tier": "silver", "orders": 3.5}},
        {"email": "c@example.com", "city": "Gold"},
    )
    assert _match(world, keyring, field="fields.tier", equals="GOLD") == {gold}
    assert _match(world, keyring, field="fields.TIER", **{"in": ["gold", "silver"]}) == {
        gold,
        silver,
    }
    assert _match(world, keyring, field="fields.orders", equals="3") == {gold}
    assert _match(world, keyring, field="fields.orders", equals=3.0) == {gold}
    assert _match(world, keyring, field="fields.vip", equals=True) == {gold}
    assert _match(world, keyring, field="fields.vip", equals="true") == {gold}
    assert _match(world, keyring, field="fields.vip", is_set=True) == {gold}
    assert _match(world, keyring, field="fields.missing", is_set=True) == set()
    # A custom field named like the city is another field.
    assert _match(world, keyring, field="city", equals="gold") == {plain}
    # A field combines with the other conditions (NOT, ALL) as any leaf does.
    not_gold = parse_definition(
        {
            "match": {
                "all": [
                    {"condition": "contact", "is": "identified"},
                    {"not": {"condition": "contact", "field": "fields.tier", "equals": "gold"}},
                ]
            }
        }
    )
    with world.engine.connect() as conn:
        now = int(time.time() * 1000)
        assert evaluate(conn, not_gold, Scope("shop", now), keyring) == {silver, plain}


@pytest.mark.parametrize(
    ("condition", "path"),
    [
        ({"field": "city"}, "definition.match.field"),
        ({"field": "city", "equals": "a", "is_set": True}, "definition.match.field"),
        ({"field": "email", "equals": "a"}, "definition.match.field"),
        ({"field": "fields." + "x" * 101, "equals": "a"}, "definition.match.field"),
        ({"field": "city", "in": []}, "definition.match.in"),
        ({"field": "city", "equals": "a" * 1001}, "definition.match.equals"),
        ({"is": "identified", "field": "city", "equals": "a"}, "definition.match"),
        ({}, "definition.match.is"),
    ],
)
def test_invalid_field_conditions_name_the_path(condition: dict[str, Any], path: str) -> None:
    with pytest.raises(ShoptrackError) as caught:
        parse_definition({"match": {"condition": "contact", **condition}})
    assert caught.value.field == path


def test_stored_definitions_keep_their_shape() -> None:
    old = {"version": 1, "match": {"condition": "contact", "is": "has_email"}}
    assert as_json(parse_definition(old)) == old
    new = {"version": 1, "match": {"condition": "contact", "field": "city", "in": ["Praha"]}}
    assert as_json(parse_definition(new)) == new


def _members(world: World, segment_id: int) -> set[str]:
    m = segment_members.c
    with world.engine.connect() as conn:
        return set(conn.execute(select(m.person).where(m.segment_id == segment_id)).scalars())


def test_a_changed_city_moves_the_contact_at_the_workers_next_round(
    world: World, keyring: Keyring, people: ContactService
) -> None:
    (anna,) = _put(people, {"email": "anna@example.com", "city": "Praha"})
    service = SegmentService(world.engine, keyring)
    segment = service.create(
        "shop", "Praguers", {"match": {"condition": "contact", "field": "city", "equals": "Praha"}}
    )
    assert _members(world, segment.segment_id) == {anna}
    # Not due for a full refresh for an hour: only the changed contacts are evaluated.
    refresher = SegmentRefresher(world.engine, interval_s=3600, keyring=keyring)
    assert refresher.refresh_due() == []
    refresher.refresh_changed_contacts()  # the first round looks back to the full refresh
    assert _members(world, segment.segment_id) == {anna}

    _put(people, {"email": "anna@example.com", "city": "Brno"})
    (bob,) = _put(people, {"email": "bob@example.com", "city": " praha"})
    [result] = refresher.refresh_changed_contacts()
    assert (result.entered, result.left, result.members) == (1, 1, 1)
    assert _members(world, segment.segment_id) == {bob}
    c = segment_changes.c
    with world.engine.connect() as conn:
        changes = conn.execute(
            select(c.person, c.change).where(c.segment_id == segment.segment_id)
        ).all()
    assert sorted(changes) == sorted([(anna, "entered"), (anna, "left"), (bob, "entered")])


def test_the_first_round_catches_changes_made_while_no_worker_ran(
    world: World, keyring: Keyring, people: ContactService
) -> None:
    (anna,) = _put(people, {"email": "anna@example.com", "city": "Praha"})
    with world.engine.begin() as conn:
        segment = create_segment(
            conn,
            "shop",
            "Praguers",
            {"match": {"condition": "contact", "field": "city", "is_set": True}},
        )
    # Never refreshed: the first round looks back to the beginning.
    [result] = SegmentRefresher(world.engine, 3600, keyring).refresh_changed_contacts()
    assert result.entered == 1 and _members(world, segment.segment_id) == {anna}


def test_merge_erasure_and_the_segment(
    world: World, keyring: Keyring, people: ContactService
) -> None:
    (praguer,) = _put(people, {"email": "a@example.com", "city": "Praha"})
    (golden,) = _put(people, {"phone": "+420601111111", "fields": {"tier": "gold"}})
    service = SegmentService(world.engine, keyring)
    gold = service.create(
        "shop",
        "Gold",
        {"match": {"condition": "contact", "field": "fields.tier", "equals": "gold"}},
    )
    assert _members(world, gold.segment_id) == {golden}
    # One row with both identifiers: the two are one person; one survives, takes the other's
    # fields, and the other's own index rows go.
    (survivor,) = _put(people, {"email": "a@example.com", "phone": "+420601111111"})
    merged = ({praguer, golden} - {survivor}).pop()
    i = contact_field_index.c
    with world.engine.connect() as conn:
        assert conn.execute(select(i.field).where(i.contact_id == merged)).all() == []
    assert _match(world, keyring, field="fields.tier", equals="gold") == {survivor}
    assert _match(world, keyring, field="city", equals="praha") == {survivor}
    SegmentRefresher(world.engine, 3600, keyring).refresh_changed_contacts()
    assert _members(world, gold.segment_id) == {survivor}

    erase_contact(world.engine, keyring, "shop", survivor, actor="test", also=ERASURE_STEPS)
    assert _members(world, gold.segment_id) == set()
    assert _match(world, keyring, field="fields.tier", is_set=True) == set()
    assert service.get("shop", gold.segment_id).members == 0
    with world.engine.connect() as conn:
        assert conn.execute(select(i.contact_id)).all() == []
