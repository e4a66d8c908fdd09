"""What a block may hold: page types, positions, algorithms, filters; checked on every write."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from shoptrack.errors import Reason, ShoptrackError

PAGE_TYPES = ("main", "category", "product", "cart", "404", "purchase", "email", "any")
# preview: served, rendered only with the block's preview token; live: rendered on its pages;
# paused: neither rendered nor served. A deleted block keeps its row (and so its numbers, which
# reports name) with the status DELETED, which no write may set.
PREVIEW, LIVE, PAUSED, DELETED = "preview", "live", "paused", "deleted"
STATUSES = (PREVIEW, LIVE, PAUSED)
POSITIONS = ("beforebegin", "afterbegin", "beforeend", "afterend")
MAX_VARIANTS = 8
MAX_COUNT = 100
MAX_NAME = 200  # rec_blocks.name is VARCHAR(200): PostgreSQL refuses longer

# The algorithms a variant can name: the block types of the platform, then the session models
# of ``recommend/algorithms/registry.py`` (run on the visitor's current session).
BLOCK_ALGORITHMS = (
    "popular",
    "popular-category",
    "new",
    "trending",
    "recently-viewed",
    "similar",
    "also-viewed",
    "bought-together",
    "cart-complements",
    "personal",
    "personal-category",
    "next-item",
)
SESSION_ALGORITHMS = (
    "popular-decay",
    "session-popular",
    "ar",
    "sr",
    "sknn",
    "vsknn",
    "stan",
    "vstan",
    "vstan-blend",
)
ALGORITHMS = BLOCK_ALGORITHMS + SESSION_ALGORITHMS
FILTER_KEYS = frozenset(
    {"in_stock", "exclude_purchased", "include", "exclude", "should", "price_min", "price_max",
     "one_per_group"}
)  # fmt: skip


def invalid(message: str, field_name: str | None = None) -> ShoptrackError:
    return ShoptrackError(Reason.INVALID_VALUE, message, field_name)


def check_filters(filters: Any, field_name: str = "filters") -> dict[str, Any]:
    if filters is None:
        return {}
    if not isinstance(filters, dict):
        raise invalid("filters must be a JSON object", field_name)
    unknown = set(filters) - FILTER_KEYS
    if unknown:
        raise invalid(f"unknown filter {sorted(unknown)[0]!r}", field_name)
    for kind in ("include", "exclude", "should"):
        rules = filters.get(kind, [])
        if not isinstance(rules, list):
            raise invalid(f"{kind} must be a list of {{name, values}}", f"{field_name}.{kind}")
        for rule in rules:
            ok = isinstance(rule, dict) and isinstance(rule.get("name"), str)
            values = rule.get("values") if isinstance(rule, dict) else None
            if not ok or not isinstance(values, list) or not values:
                raise invalid(f"each {kind} rule needs a name and values", f"{field_name}.{kind}")
    for key in ("price_min", "price_max"):
        if key in filters and not isinstance(filters[key], int | float):
            raise invalid(f"{key} must be a number", f"{field_name}.{key}")
    for key in ("in_stock", "exclude_purchased", "one_per_group"):
        if key in filters and not isinstance(filters[key], bool):
            raise invalid(f"{key} must be true or false", f"{field_name}.{key}")
    return dict(filters)


def check_variant(algorithm: str, params: Any, weight: float) -> None:
    if algorithm not in ALGORITHMS:
        raise invalid(
            f"unknown algorithm {algorithm!r}; one of {', '.join(ALGORITHMS)}", "algorithm"
        )
    if not isinstance(params, dict):
        raise invalid("params must be a JSON object", "params")
    if not (0 <= weight <= 1_000_000):
        raise invalid("weight must be between 0 and 1000000", "weight")


_BLOCK_FIELDS = {
    "name": str,
    "page_type": str,
    "count": int,
    "filters": dict,
    "selector": str,
    "position": str,
    "template": str,
    "title": str,
    "placement_id": int,
}


def check_block_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The block fields of a create or update, validated; the column names as keys."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in _BLOCK_FIELDS:
            raise invalid(f"unknown block field {key!r}", key)
        if value is None and key in ("selector", "template", "title", "placement_id"):
            out[key] = None
            continue
        if key == "filters":
            out["filters"] = orjson.dumps(check_filters(value)).decode()
        elif key == "page_type":
            if value not in PAGE_TYPES:
                raise invalid(f"page_type must be one of {', '.join(PAGE_TYPES)}", key)
            out[key] = value
        elif key == "position":
            if value not in POSITIONS:
                raise invalid(f"position must be one of {', '.join(POSITIONS)}", key)
            out[key] = value
        elif key == "count":
            if not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
                raise invalid(f"count must be 1..{MAX_COUNT}", key)
            out["product_count"] = value
        elif key == "placement_id":
            if not isinstance(value, int) or value < 0:
                raise invalid("placement_id must be a non-negative integer", key)
            out[key] = value
        else:
            if not isinstance(value, str) or len(value) > 100_000:
                raise invalid(f"{key} must be a string", key)
            if key == "name" and len(value) > MAX_NAME:
                raise invalid(f"name must be at most {MAX_NAME} characters", key)
            out[key] = value
    return out
