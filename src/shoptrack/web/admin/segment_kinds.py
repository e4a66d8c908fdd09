"""The segment builder's table of condition kinds: for each ``condition`` of the definition
schema (``segments/definition.py``), its label and the fields a row of the form shows.

A new condition kind in the schema is one more :class:`Kind` in :data:`KINDS`: its
``condition`` name, a label, and one :class:`Input` per field, named by its path in the leaf
(``count.op``, ``price.min``). A leaf whose kind or fields this table does not know opens in
the JSON editor instead (nothing is dropped), and a test names every schema kind missing here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from shoptrack.segments.definition import ContactCondition, EventKind, Op, OrdersCondition

InputType = Literal["choice", "number", "text"]

OP_LABELS = {
    ">=": "at least",
    ">": "more than",
    "<=": "at most",
    "<": "fewer than / below",
    "=": "exactly",
    "!=": "anything but",
}
EVENT_LABELS = {
    "viewed": "viewed a product",
    "carted": "had a cart",
    "purchased": "bought",
    "wishlisted": "added to the wishlist",
    "searched": "searched",
    "searched_no_result": "searched and found nothing",
    "viewed_category": "viewed a category",
}
CONTACT_LABELS = {
    "identified": "is identified (a known contact)",
    "anonymous": "is an anonymous visitor",
    "has_email": "has an e-mail address",
    "has_phone": "has a phone number",
}
METRIC_LABELS = {"count": "number of orders", "revenue": "revenue", "aov": "average order value"}


def _choices(values: tuple[str, ...], labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((value, labels.get(value, value)) for value in values)


def _literal_values(model: type, field: str) -> tuple[str, ...]:
    """The values a ``Literal`` field of a schema model allows, in the schema's order (of the
    ``Literal`` inside an optional one: ``Literal[...] | None``)."""
    annotation = model.model_fields[field].annotation  # type: ignore[attr-defined]
    values: list[str] = []
    for arg in get_args(annotation):
        values.extend(get_args(arg) if get_args(arg) else [arg] if isinstance(arg, str) else [])
    return tuple(values)


@dataclass(frozen=True)
class Input:
    """One field of a condition row: ``path`` in the leaf's JSON, dotted for nested objects."""

    path: str
    label: str
    type: InputType = "number"
    options: tuple[tuple[str, str], ...] = ()
    default: str = ""  # the text a new row starts with ("" = left empty)
    hint: str = ""


@dataclass(frozen=True)
class Kind:
    condition: str
    label: str
    inputs: tuple[Input, ...]


OPS = _choices(get_args(Op), OP_LABELS)
EVENTS = _choices(get_args(EventKind), EVENT_LABELS)
WITHIN = Input("within_days", "Within the last … days", hint="Empty: any time.")


def _window(default: str) -> Input:
    return Input("within_days", "Within the last … days", default=default)


KINDS: tuple[Kind, ...] = (
    Kind(
        "event",
        "Did an event (N times)",
        (
            Input("event", "Event", "choice", EVENTS, "viewed"),
            Input("count.op", "How many times", "choice", OPS, ">="),
            Input("count.value", "Times", default="1", hint="“exactly 0”: never did it."),
            Input("within_days", "Within the last … days", default="30", hint="Empty: any time."),
            Input("product", "Only this product (key)", "text"),
            Input("category", "Only this category (any level)", "text"),
            Input("brand", "Only this brand", "text"),
            Input("price.min", "Price at least"),
            Input("price.max", "Price at most"),
        ),
    ),
    Kind(
        "orders",
        "Orders: count, revenue or average value",
        (
            Input(
                "metric",
                "Measure",
                "choice",
                _choices(_literal_values(OrdersCondition, "metric"), METRIC_LABELS),
                "count",
            ),
            Input("op", "Compared", "choice", OPS, ">="),
            Input("value", "Value", default="1"),
            WITHIN,
        ),
    ),
    Kind(
        "last_order",
        "Last order before / after",
        (
            Input("more_than_days_ago", "Last order more than … days ago", default="30"),
            Input("within_days", "Or: last order within the last … days", hint="Fill one of two."),
        ),
    ),
    Kind(
        "contact",
        "Contact: identified, anonymous, e-mail, phone, a field",
        (
            Input(
                "is",
                "The person",
                "choice",
                (
                    ("", "(tests the field below)"),
                    *_choices(_literal_values(ContactCondition, "is_"), CONTACT_LABELS),
                ),
                "identified",
            ),
            # One or the other: a definition gives "is" or a field test, never both.
            Input("field", "Or the field", "text", hint="city, or fields.NAME for a custom one"),
            Input("equals", "Equals", "text", hint="Case and spaces do not matter."),
        ),
    ),
    Kind(
        "abandoned_cart",
        "Abandoned cart",
        (Input("after_hours", "Untouched for … hours", default="1"), _window("7")),
    ),
    Kind(
        "abandoned_browse",
        "Abandoned browse",
        (Input("after_hours", "Untouched for … hours", default="1"), _window("7")),
    ),
    Kind("viewed_in_stock", "A product viewed out of stock is back", (_window("30"),)),
    Kind("wishlist_in_stock", "A wished-for product is back in stock", (_window("30"),)),
    Kind(
        "price_drop",
        "Price drop on a viewed product",
        (_window("14"), Input("min_percent", "By at least … percent", default="5")),
    ),
    Kind(
        "regular_demand",
        "Regular demand: a product bought regularly is due",
        (Input("min_orders", "Bought in at least … orders", default="2"),),
    ),
)

BY_CONDITION = {kind.condition: kind for kind in KINDS}
