"""Segment conditions evaluated as SQL, the same suite on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.segments.world import DAY, HOUR, NOW, World, event


@pytest.fixture
def world(engine: Engine) -> World:
    return World(engine)


def test_a_window_includes_its_first_moment_and_not_the_one_before(world: World) -> None:
    world.view("edge", "p1", NOW - 7 * DAY)
    world.view("outside", "p1", NOW - 7 * DAY - 1)
    world.view("future", "p1", NOW + 1)
    assert world.members(event("viewed", within_days=7)) == {"~edge"}


def test_counts_compare_with_every_operator(world: World) -> None:
    for n, visitor in ((1, "one"), (2, "two"), (3, "three")):
        for i in range(n):
            world.view(visitor, f"p{i}", NOW - HOUR)
    assert world.members(event("viewed", count={"op": ">=", "value": 2})) == {"~two", "~three"}
    assert world.members(event("viewed", count={"op": "=", "value": 2})) == {"~two"}
    assert world.members(event("viewed", count={"op": ">", "value": 2})) == {"~three"}
    assert world.members(event("viewed", count={"op": "!=", "value": 2})) == {"~one", "~three"}


def test_did_not_includes_people_who_never_did_anything_of_the_kind(world: World) -> None:
    world.view("looker", "p1", NOW - HOUR)
    world.buy("buyer", NOW - HOUR, "o1", ("p1", 10.0, 1))
    world.contact("c-quiet")  # a contact with no event at all
    never_bought = event("purchased", count={"op": "=", "value": 0})
    assert world.members(never_bought) == {"~looker", "c-quiet"}
    assert world.members({"match": {"not": event("purchased")["match"]}}) == {"~looker", "c-quiet"}
    assert world.members(event("purchased", count={"op": "<", "value": 1})) == {
        "~looker",
        "c-quiet",
    }


def test_all_any_not_combine(world: World) -> None:
    world.view("a", "p1", NOW - HOUR)
    world.cart("a", NOW - HOUR, "p1")
    world.view("b", "p1", NOW - HOUR)
    world.cart("c", NOW - HOUR, "p2")
    viewed, carted = event("viewed")["match"], event("carted")["match"]
    assert world.members({"match": {"all": [viewed, carted]}}) == {"~a"}
    assert world.members({"match": {"any": [viewed, carted]}}) == {"~a", "~b", "~c"}
    assert world.members({"match": {"all": [viewed, {"not": carted}]}}) == {"~b"}
    nested = {"any": [{"all": [viewed, {"not": carted}]}, {"all": [carted, {"not": viewed}]}]}
    assert world.members({"match": nested}) == {"~b", "~c"}


def test_a_visitor_counts_for_the_contact_it_is_linked_to_across_devices(world: World) -> None:
    world.view("phone", "p1", NOW - HOUR)
    world.view("laptop", "p1", NOW - HOUR)
    world.contact("c1", "phone", "laptop", email=True)
    assert world.members(event("viewed", count={"op": ">=", "value": 2})) == {"c1"}
    assert world.members({"match": {"condition": "contact", "is": "identified"}}) == {"c1"}
    assert world.members({"match": {"condition": "contact", "is": "has_email"}}) == {"c1"}
    assert world.members({"match": {"condition": "contact", "is": "has_phone"}}) == set()
    world.view("stranger", "p1", NOW - HOUR)
    assert world.members({"match": {"condition": "contact", "is": "anonymous"}}) == {"~stranger"}


def test_product_category_brand_and_price_filters(world: World) -> None:
    world.catalogue(
        {"product_key": "boot", "brand": "Acme", "price": 90.0, "category_ids": [2]},
        {"product_key": "hat", "brand": "Other", "price": 20.0, "category_ids": [3]},
        categories=[
            (1, None, "Clothing", "Clothing"),
            (2, 1, "Shoes", "Clothing > Shoes"),
            (3, None, "Hats", "Hats"),
        ],
    )
    world.view("shoe-fan", "boot", NOW - HOUR, price=90.0)
    world.view("hat-fan", "hat", NOW - HOUR, price=20.0)
    world.event("CategoryPage", "browser", NOW - HOUR, category_key="clothing > shoes")
    assert world.members(event("viewed", product="boot")) == {"~shoe-fan"}
    # A parent category matches the products of the categories below it.
    assert world.members(event("viewed", category="Clothing")) == {"~shoe-fan"}
    assert world.members(event("viewed", brand="acme")) == {"~shoe-fan"}
    assert world.members(event("viewed", price={"min": 15, "max": 25})) == {"~hat-fan"}
    assert world.members(event("viewed_category", category="Clothing")) == {"~browser"}


def test_purchase_totals_and_last_order(world: World) -> None:
    world.buy("big", NOW - 2 * DAY, "o1", ("p1", 100.0, 2))
    world.buy("big", NOW - 40 * DAY, "o2", ("p2", 50.0, 1))
    world.buy("small", NOW - 1 * DAY, "o3", ("p1", 5.0, 1))
    orders = {"condition": "orders", "metric": "count", "op": ">=", "value": 2}
    assert world.members({"match": orders}) == {"~big"}
    assert world.members({"match": {**orders, "within_days": 30}}) == set()
    revenue = {"condition": "orders", "metric": "revenue", "op": ">", "value": 200}
    assert world.members({"match": revenue}) == {"~big"}
    aov = {"condition": "orders", "metric": "aov", "op": "<", "value": 10}
    assert world.members({"match": aov}) == {"~small"}
    world.view("window-shopper", "p1", NOW - HOUR)
    no_revenue = {"condition": "orders", "metric": "revenue", "op": "=", "value": 0}
    assert world.members({"match": no_revenue}) == {"~window-shopper"}
    lapsed = {"condition": "last_order", "more_than_days_ago": 1.5}
    assert world.members({"match": lapsed}) == {"~big"}
    recent = {"condition": "last_order", "within_days": 1.5}
    assert world.members({"match": recent}) == {"~small"}


def test_abandoned_cart_and_browse(world: World) -> None:
    world.cart("left", NOW - 3 * HOUR, "p1")
    world.cart("bought", NOW - 3 * HOUR, "p1")
    world.buy("bought", NOW - 2 * HOUR, "o1", ("p1", 10.0, 1))
    world.cart("emptied", NOW - 4 * HOUR, "p1")
    world.cart("emptied", NOW - 3 * HOUR)
    world.cart("too-soon", NOW - 10 * 60_000, "p1")
    world.cart("too-old", NOW - 9 * DAY, "p1")
    cart = {"condition": "abandoned_cart", "after_hours": 1, "within_days": 7}
    assert world.members({"match": cart}) == {"~left"}
    world.view("browser", "p1", NOW - 2 * HOUR)
    world.view("carter", "p1", NOW - 3 * HOUR)
    world.cart("carter", NOW - 2 * HOUR, "p1")
    browse = {"condition": "abandoned_browse", "after_hours": 1, "within_days": 7}
    assert world.members({"match": browse}) == {"~browser"}


def test_catalogue_conditions_back_in_stock_price_drop_regular_demand(world: World) -> None:
    world.catalogue(
        {"product_key": "back", "price": 10.0, "in_stock": True},
        {"product_key": "gone", "price": 10.0, "in_stock": False},
        {"product_key": "cheaper", "price": 80.0, "in_stock": True},
    )
    world.view("waiting", "back", NOW - DAY, in_stock=False)
    world.view("still-waiting", "gone", NOW - DAY, in_stock=False)
    assert world.members({"match": {"condition": "viewed_in_stock"}}) == {"~waiting"}
    world.view("saver", "cheaper", NOW - DAY, price=100.0)
    world.view("small-saver", "back", NOW - DAY, price=10.4)
    drop = {"condition": "price_drop", "min_percent": 10}
    assert world.members({"match": drop}) == {"~saver"}
    # Bought every 10 days; the last order 12 days ago: due. Another, 5 days ago: not yet.
    for days in (32, 22, 12):
        world.buy("due", NOW - days * DAY, f"d{days}", ("coffee", 5.0, 1))
    for days in (25, 15, 5):
        world.buy("not-due", NOW - days * DAY, f"n{days}", ("coffee", 5.0, 1))
    world.buy("once", NOW - 40 * DAY, "x1", ("coffee", 5.0, 1))
    assert world.members({"match": {"condition": "regular_demand"}}) == {"~due"}


def test_bot_traffic_is_left_out(world: World) -> None:
    world.event(
        "ProductPage",
        "crawler",
        NOW - HOUR,
        products=[{"key": "p1"}],
        user_agent={"is_bot": True},
    )
    world.view("human", "p1", NOW - HOUR)
    assert world.members(event("viewed")) == {"~human"}
