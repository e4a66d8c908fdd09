"""A segment's definition, schema version 1: conditions combined with all / any / not.

```json
{"version": 1,
 "match": {"all": [
    {"condition": "event", "event": "purchased", "count": {"op": ">=", "value": 2},
     "within_days": 90, "category": "Shoes"},
    {"not": {"condition": "contact", "is": "anonymous"}}]}}
```

Every leaf names its ``condition``; time windows are counted back from the moment of
evaluation (``within_days``: the last N days, edges included). Errors name the path of the
field at fault (``match.all.1.not.is``). Limits: 8 levels, 50 conditions.

A ``contact`` condition either says what the person ``is`` (``identified``, ``anonymous``,
``has_email``, ``has_phone``) or tests one of the contact's fields: ``field`` is ``city`` or
a custom field as ``fields.<name>`` (name up to 100 characters), with exactly one of
``equals`` (a value), ``in`` (1 to 100 values) or ``is_set`` (true: the field has a value;
false: an identified contact without one)::

    {"condition": "contact", "field": "city", "equals": "Praha"}
    {"condition": "contact", "field": "fields.tier", "in": ["gold", "platinum"]}
    {"condition": "contact", "field": "fields.newsletter", "is_set": true}

Values match case-, space- and Unicode-form-insensitively (``" PRAHA "`` is ``"Praha"``,
``3.0`` is ``"3"``, ``true`` is ``"true"``); only equality can be tested, since the store
keeps a blind index of each value, not the value (``identity/field_index.py``). Anonymous
visitors have no fields.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError

from shoptrack.errors import Reason, ShoptrackError
from shoptrack.identity.field_index import normalize_field_name

SCHEMA_VERSION = 1
MAX_DEPTH = 8
MAX_CONDITIONS = 50
MAX_DAYS = 3650

Op = Literal[">=", ">", "<=", "<", "=", "!="]
EventKind = Literal[
    "viewed",  # ProductPage
    "carted",  # StatusCart / StatusCartPage with items
    "purchased",  # PurchasedItems
    "wishlisted",  # AddToWishlist
    "searched",  # SearchRequest
    "searched_no_result",  # SearchRequest that found nothing
    "viewed_category",  # CategoryPage
]
Days = Annotated[float, Field(gt=0, le=MAX_DAYS)]
Key = Annotated[str, Field(min_length=1, max_length=255)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Count(Strict):
    op: Op = ">="
    value: int = Field(1, ge=0, le=1_000_000)


class PriceRange(Strict):
    min: float | None = Field(None, ge=0)
    max: float | None = Field(None, ge=0)


class EventCondition(Strict):
    """Did (or did not, with ``count`` ``= 0``) an event N times, optionally about a product,
    a category (any level of the tree), a brand, or at a price."""

    condition: Literal["event"]
    event: EventKind
    count: Count = Count()
    within_days: Days | None = None
    product: Key | None = None
    category: Key | None = None
    brand: Key | None = None
    price: PriceRange | None = None


class OrdersCondition(Strict):
    """Purchase totals over a window: number of orders, revenue, average order value."""

    condition: Literal["orders"]
    metric: Literal["count", "revenue", "aov"]
    op: Op
    value: float = Field(ge=0)
    within_days: Days | None = None


class LastOrderCondition(Strict):
    """The last order was more than ``more_than_days_ago`` days ago, or within the last
    ``within_days`` days (people with no order match neither)."""

    condition: Literal["last_order"]
    more_than_days_ago: Days | None = None
    within_days: Days | None = None


FieldValue = str | int | float | bool
MAX_FIELD_VALUE = 1000
FieldName = Annotated[str, Field(min_length=1, max_length=107, pattern=r"^(city|fields\..+)$")]


class ContactCondition(Strict):
    """What the person is (``is``), or a test of one contact field (``field`` with one of
    ``equals``, ``in``, ``is_set``)."""

    condition: Literal["contact"]
    is_: Literal["identified", "anonymous", "has_email", "has_phone"] | None = Field(
        None, alias="is"
    )
    field: FieldName | None = None
    equals: FieldValue | None = None
    in_: list[FieldValue] | None = Field(None, alias="in", min_length=1, max_length=100)
    is_set: bool | None = None


class AbandonedCondition(Strict):
    """The last cart (or product view) is at least ``after_hours`` old, within the window,
    and nothing followed it: no order (and, for a browse, no cart)."""

    condition: Literal["abandoned_cart", "abandoned_browse"]
    after_hours: float = Field(1.0, ge=0, le=24 * MAX_DAYS)
    within_days: Days = 7


class StockCondition(Strict):
    """A product viewed (or wished for) out of stock within the window is in stock now."""

    condition: Literal["viewed_in_stock", "wishlist_in_stock"]
    within_days: Days = 30


class PriceDropCondition(Strict):
    """A product viewed within the window costs now at least ``min_percent`` less than then."""

    condition: Literal["price_drop"]
    within_days: Days = 14
    min_percent: float = Field(5.0, gt=0, lt=100)


class RegularDemandCondition(Strict):
    """A product bought in ``min_orders`` orders or more, whose usual interval between orders
    has passed since the last one."""

    condition: Literal["regular_demand"]
    min_orders: int = Field(2, ge=2, le=1000)


Leaf = Annotated[
    EventCondition
    | OrdersCondition
    | LastOrderCondition
    | ContactCondition
    | AbandonedCondition
    | StockCondition
    | PriceDropCondition
    | RegularDemandCondition,
    Field(discriminator="condition"),
]


class AllOf(Strict):
    all: list[Node] = Field(min_length=1, max_length=MAX_CONDITIONS)


class AnyOf(Strict):
    any: list[Node] = Field(min_length=1, max_length=MAX_CONDITIONS)


class NotOf(Strict):
    not_: Node = Field(alias="not")


def _node_kind(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("all", "any", "not"):
            if key in value:
                return key
        return "leaf"
    if isinstance(value, AllOf):
        return "all"
    if isinstance(value, AnyOf):
        return "any"
    if isinstance(value, NotOf):
        return "not"
    return "leaf"


Node = Annotated[
    Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[NotOf, Tag("not")]
    | Annotated[Leaf, Tag("leaf")],
    Discriminator(_node_kind),
]


class Definition(Strict):
    version: Literal[1] = 1
    match: Node


AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()
Definition.model_rebuild()


def _walk(node: Any, depth: int) -> int:
    """The number of leaves, refusing trees deeper than MAX_DEPTH."""
    if depth > MAX_DEPTH:
        raise ShoptrackError(
            Reason.TOO_DEEP, f"definition: at most {MAX_DEPTH} levels of all/any/not", "match"
        )
    if isinstance(node, AllOf | AnyOf):
        return sum(
            _walk(child, depth + 1) for child in (node.all if isinstance(node, AllOf) else node.any)
        )
    if isinstance(node, NotOf):
        return _walk(node.not_, depth + 1)
    return 1


def _location(loc: tuple[Any, ...]) -> str:
    """The path of an error in the document as written. Pydantic's location also names the
    union member it tried: ``all``/``any``/``not`` before the field of that name, and
    ``leaf`` followed by the condition's name; both are left out."""
    parts = list(loc)
    path: list[str] = []
    index = 0
    while index < len(parts):
        part = parts[index]
        following = parts[index + 1] if index + 1 < len(parts) else None
        if part == "leaf":
            index += 2  # the tag, then the condition's name
            continue
        if part in ("all", "any", "not") and following == part:
            index += 1
            continue
        path.append(str(part))
        index += 1
    return ".".join(path)


def parse_definition(value: Any) -> Definition:
    """A checked definition, or a ``ShoptrackError`` naming the first field at fault."""
    if not isinstance(value, dict):
        raise ShoptrackError(
            Reason.INVALID_VALUE, "definition: expected a JSON object", "definition"
        )
    version = value.get("version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ShoptrackError(
            Reason.INVALID_VALUE,
            f"definition.version: {version!r} is not a known schema version (known: 1)",
            "definition.version",
        )
    try:
        definition = Definition.model_validate(value)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        path = _location(tuple(first.get("loc", ())))
        field = f"definition.{path}" if path else "definition"
        raise ShoptrackError(Reason.INVALID_VALUE, f"{field}: {first['msg']}", field) from None
    leaves = _walk(definition.match, 1)
    if leaves > MAX_CONDITIONS:
        raise ShoptrackError(
            Reason.LIST_TOO_LONG,
            f"definition: at most {MAX_CONDITIONS} conditions ({leaves} given)",
            "match",
        )
    _check_ranges(definition.match, "definition.match")
    return definition


def _check_ranges(node: Any, path: str) -> None:
    """What the field types cannot say: a price range the right way round, exactly one of
    the last order's two bounds."""
    if isinstance(node, AllOf | AnyOf):
        name, children = ("all", node.all) if isinstance(node, AllOf) else ("any", node.any)
        for index, child in enumerate(children):
            _check_ranges(child, f"{path}.{name}.{index}")
    elif isinstance(node, NotOf):
        _check_ranges(node.not_, f"{path}.not")
    elif isinstance(node, EventCondition) and node.price is not None:
        low, high = node.price.min, node.price.max
        if low is None and high is None:
            _refuse(f"{path}.price", "give min, max or both")
        if low is not None and high is not None and low > high:
            _refuse(f"{path}.price", "min is above max")
    elif isinstance(node, LastOrderCondition) and (
        (node.more_than_days_ago is None) == (node.within_days is None)
    ):
        _refuse(path, "give exactly one of more_than_days_ago and within_days")
    elif isinstance(node, ContactCondition):
        _check_contact(node, path)


def _check_contact(node: ContactCondition, path: str) -> None:
    tests = [name for name in ("equals", "in_", "is_set") if getattr(node, name) is not None]
    if node.is_ is not None:
        if node.field is not None or tests:
            _refuse(path, "give either is, or field with equals, in or is_set")
        return
    if node.field is None:
        _refuse(f"{path}.is", "give is, or field with equals, in or is_set")
    if len(tests) != 1:
        _refuse(f"{path}.field", "give exactly one of equals, in and is_set with field")
    if node.field is not None and normalize_field_name(node.field) is None:
        _refuse(f"{path}.field", "a custom field name has at most 100 characters")
    if isinstance(node.equals, str) and len(node.equals) > MAX_FIELD_VALUE:
        _refuse(f"{path}.equals", f"at most {MAX_FIELD_VALUE} characters")
    for index, item in enumerate(node.in_ or ()):
        if isinstance(item, str) and len(item) > MAX_FIELD_VALUE:
            _refuse(f"{path}.in.{index}", f"at most {MAX_FIELD_VALUE} characters")


def reads_contacts(definition: Definition) -> bool:
    """Whether a condition reads the contact's own data (``contact``), which changes without
    an event when the shop writes contacts through the API."""

    def walk(node: Any) -> bool:
        if isinstance(node, AllOf | AnyOf):
            return any(walk(child) for child in (node.all if isinstance(node, AllOf) else node.any))
        if isinstance(node, NotOf):
            return walk(node.not_)
        return isinstance(node, ContactCondition)

    return walk(definition.match)


def _refuse(field: str, problem: str) -> None:
    raise ShoptrackError(Reason.INVALID_VALUE, f"{field}: {problem}", field)


def as_json(definition: Definition) -> dict[str, Any]:
    """The stored form: aliases (``is``, ``not``, ``in``) as written, defaults filled in; a
    contact condition's unused keys are left out, so definitions stored before contact
    fields existed read back as they were."""
    stored: dict[str, Any] = _drop_unused(definition.model_dump(mode="json", by_alias=True))
    return stored


def _drop_unused(value: Any) -> Any:
    if isinstance(value, list):
        return [_drop_unused(item) for item in value]
    if not isinstance(value, dict):
        return value
    if value.get("condition") == "contact":
        return {k: v for k, v in value.items() if v is not None}
    return {k: _drop_unused(v) for k, v in value.items()}
