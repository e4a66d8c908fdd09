"""The segment builder's conversion: definition -> form fields -> definition is the same for
every condition kind, and the schema's error paths land on the row and field they name."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from starlette.datastructures import FormData

from shoptrack.errors import ShoptrackError
from shoptrack.segments.definition import Leaf, as_json, parse_definition
from shoptrack.web.admin.segment_form import (
    Builder,
    builder_from_form,
    builder_of,
    definition_of,
    new_row,
    place_error,
)
from shoptrack.web.admin.segment_kinds import BY_CONDITION, KINDS

# Every kind with every field it has set to something other than its default.
FULL: dict[str, dict[str, Any]] = {
    "event": {
        "condition": "event", "event": "purchased", "count": {"op": "=", "value": 0},
        "within_days": 90.5, "product": "P-1", "category": "Shoes", "brand": "Acme",
        "price": {"min": 10, "max": 99.99},
    },
    "orders": {"condition": "orders", "metric": "revenue", "op": ">", "value": 100.5,
               "within_days": 365},
    "last_order": {"condition": "last_order", "more_than_days_ago": 60},
    "contact": {"condition": "contact", "is": "has_phone"},
    "abandoned_cart": {"condition": "abandoned_cart", "after_hours": 2.5, "within_days": 3},
    "abandoned_browse": {"condition": "abandoned_browse", "after_hours": 0, "within_days": 1},
    "viewed_in_stock": {"condition": "viewed_in_stock", "within_days": 10},
    "wishlist_in_stock": {"condition": "wishlist_in_stock", "within_days": 60},
    "price_drop": {"condition": "price_drop", "within_days": 7, "min_percent": 12.5},
    "regular_demand": {"condition": "regular_demand", "min_orders": 3},
}  # fmt: skip
# Leaves the full ones do not show: the other bound, only defaults, half a price range.
MORE = [
    {"condition": "last_order", "within_days": 7},
    {"condition": "event", "event": "searched_no_result"},
    {"condition": "event", "event": "viewed", "price": {"max": 20}},
    {"condition": "orders", "metric": "aov", "op": "<=", "value": 0},
    {"condition": "contact", "field": "city", "equals": "Oslo"},
    {"condition": "contact", "field": "fields.tier", "equals": "gold"},
]


def _schema_conditions() -> set[str]:
    members = get_args(get_args(Leaf)[0])
    return {
        value for model in members for value in get_args(model.model_fields["condition"].annotation)
    }


def _stored(definition: dict[str, Any]) -> dict[str, Any]:
    return as_json(parse_definition(definition))


def _posted(builder: Builder) -> FormData:
    """The fields the builder's template posts for ``builder`` (a ticked box: present)."""
    fields: list[tuple[str, str]] = [("combine", builder.combine), ("rows", str(len(builder.rows)))]
    for index, row in enumerate(builder.rows):
        fields.append((f"c{index}.condition", row.condition))
        if row.negated:
            fields.append((f"c{index}.not", "on"))
        fields += [(f"c{index}.{path}", text) for path, text in row.values.items()]
    return FormData(fields)


def _round_trip(definition: dict[str, Any]) -> dict[str, Any]:
    builder = builder_of(_stored(definition))
    assert builder is not None, definition
    return _stored(definition_of(builder_from_form(_posted(builder))))


def test_the_table_has_every_kind_of_the_schema() -> None:
    """A kind added to definition.py needs its row in segment_kinds.KINDS (and a FULL here)."""
    assert {kind.condition for kind in KINDS} == _schema_conditions()
    assert set(FULL) == _schema_conditions()


@pytest.mark.parametrize("leaf", [*FULL.values(), *MORE], ids=lambda leaf: leaf["condition"])
def test_every_kind_round_trips_alone_and_negated(leaf: dict[str, Any]) -> None:
    alone = {"version": 1, "match": leaf}
    assert _round_trip(alone) == _stored(alone)
    negated = {"version": 1, "match": {"not": leaf}}
    assert _round_trip(negated) == _stored(negated)


@pytest.mark.parametrize("combine", ["all", "any"])
def test_all_kinds_together_round_trip(combine: str) -> None:
    nodes = [{"not": leaf} if n % 2 else leaf for n, leaf in enumerate([*FULL.values(), *MORE])]
    definition = {"version": 1, "match": {combine: nodes}}
    assert _round_trip(definition) == _stored(definition)


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.condition)
def test_a_new_row_is_a_valid_condition_as_it_starts(kind: Any) -> None:
    builder = Builder(rows=[new_row(kind.condition)])
    _stored(definition_of(builder))


@pytest.mark.parametrize(
    "definition",
    [
        {"version": 1, "match": {"any": [{"all": [FULL["contact"], FULL["orders"]]}]}},
        {"version": 1, "match": {"not": {"all": [FULL["contact"]]}}},
        {"version": 1, "match": {"not": {"not": FULL["contact"]}}},
        {"version": 1, "match": {"condition": "contact", "is": "identified", "city": "Oslo"}},
        {"version": 1, "match": {"condition": "city", "is": "Oslo"}},
        {"version": 1, "match": {"condition": "contact", "field": "city", "in": ["Oslo"]}},
    ],
    ids=["nested", "not-of-all", "not-not", "unknown-field", "unknown-kind", "field-in-list"],
)
def test_what_the_form_cannot_show_is_left_to_the_json_editor(definition: Any) -> None:
    assert builder_of(definition) is None


def _error_of(builder: Builder) -> ShoptrackError:
    with pytest.raises(ShoptrackError) as caught:
        parse_definition(definition_of(builder))
    place_error(builder, caught.value.field, caught.value.message)
    return caught.value


def test_an_error_lands_on_its_row_and_field() -> None:
    first, second = new_row("contact"), new_row("event")
    second.negated = True
    second.values["count.value"] = "twice"
    builder = Builder("any", [first, second])
    error = _error_of(builder)
    assert error.field == "definition.match.any.1.not.count.value"
    assert not first.errors and first.error is None
    assert second.errors == {"count.value": error.message}


def test_a_range_error_lands_on_the_price_and_a_row_error_on_the_row() -> None:
    priced, last = new_row("event"), new_row("last_order")
    priced.values.update({"price.min": "50", "price.max": "10"})
    builder = Builder("all", [priced, last])
    _error_of(builder)
    assert list(priced.errors) == ["price.min"] and "min is above max" in priced.errors["price.min"]
    priced.errors.clear()
    priced.values["price.min"] = "5"
    last.values["within_days"] = "3"  # both bounds of the last order: the row is at fault
    _error_of(builder)
    assert not priced.errors
    assert last.error is not None and "exactly one" in last.error


def test_a_single_row_and_a_path_naming_no_row() -> None:
    alone = new_row("regular_demand")
    alone.values["min_orders"] = "1"
    builder = Builder(rows=[alone])
    _error_of(builder)
    assert set(alone.errors) == {"min_orders"}
    place_error(builder, "definition.version", "definition.version: unknown")
    assert builder.error == "definition.version: unknown"
    assert BY_CONDITION["regular_demand"].inputs[0].path == "min_orders"
