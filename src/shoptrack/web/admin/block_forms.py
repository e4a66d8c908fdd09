"""The block and variant forms: form text into the arguments of ``recommend.blocks.BlockStore``.

Only the reading of text is done here (a number, JSON); every rule about what a block may hold
is the domain's (``recommend/block_rules.py``), whose errors name the field they are about.
Text that does not read as a number is handed on as text, so the domain's own message names
it (``count must be 1..100``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from shoptrack.collector.limits import check_storable
from shoptrack.errors import Reason, ShoptrackError
from shoptrack.recommend.blocks import Block, Variant

# The block form's inputs, in the order they are shown; each is also a field name of
# ``check_block_fields`` (the domain names its errors by them).
BLOCK_INPUTS = (
    "name",
    "page_type",
    "count",
    "title",
    "selector",
    "position",
    "placement_id",
    "filters",
    "template",
)
VARIANT_INPUTS = ("algorithm", "weight", "params")
OPTIONAL_TEXT = ("selector", "template", "title")


@dataclass
class FormState:
    """What a form shows: the values as typed and an error per input (after a refusal)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def read(self, form: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, str]:
        """The named inputs as text, kept to be shown again; refused (naming the input) when
        a store could not hold one (NUL, a lone surrogate). A file reads as empty."""
        found = {name: form.get(name) for name in names}
        self.values = {name: v if isinstance(v, str) else "" for name, v in found.items()}
        check_storable(self.values)
        return self.values

    def refused(self, error: ShoptrackError, inputs: tuple[str, ...]) -> FormState:
        self.errors[input_of(error.field, inputs)] = error.message
        return self


def input_of(field_name: str | None, inputs: tuple[str, ...]) -> str:
    """The input an error is about: ``filters.include`` is the filters box; an error about
    no input of the form (``variants``) is shown above it, under ``_form``."""
    head = (field_name or "").split(".")[0].split("[")[0]
    return head if head in inputs else "_form"


def _invalid(message: str, name: str) -> ShoptrackError:
    return ShoptrackError(Reason.INVALID_VALUE, message, name)


def _integer_or_text(value: str) -> int | str:
    text = value.strip()
    try:
        return int(text)
    except ValueError:
        return text


def json_object(value: str, name: str) -> Any:
    text = value.strip()
    if not text:
        return {}
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise _invalid(f"{name} must be JSON, e.g. {{}}", name) from None
    check_storable(parsed, name)  # JSON may spell NUL as \u0000
    return parsed


def block_fields(values: Mapping[str, str]) -> dict[str, Any]:
    """The block form as the domain's fields. An empty name keeps the block's (a new block is
    named by its number); other empty optional inputs clear their field."""
    out: dict[str, Any] = {}
    name = values.get("name", "").strip()
    if name:
        out["name"] = name
    out["page_type"] = values.get("page_type", "")
    out["count"] = _integer_or_text(values.get("count", ""))
    for key in OPTIONAL_TEXT:
        text = values.get(key, "")
        out[key] = text if text.strip() else None
    out["position"] = values.get("position", "")
    placement = values.get("placement_id", "").strip()
    out["placement_id"] = _integer_or_text(placement) if placement else None
    out["filters"] = json_object(values.get("filters", ""), "filters")
    return out


def weight_of(text: str) -> float:
    try:
        return float(text.strip() or "1")
    except ValueError:
        raise _invalid("weight must be a number", "weight") from None


def variant_spec(values: Mapping[str, str]) -> dict[str, Any]:
    """The variant inputs as ``{"algorithm", "params", "weight"}`` for the domain."""
    return {
        "algorithm": values.get("algorithm", ""),
        "params": json_object(values.get("params", ""), "params"),
        "weight": weight_of(values.get("weight", "")),
    }


def block_values(block: Block) -> dict[str, str]:
    """A stored block as the edit form's text."""
    return {
        "name": block.name,
        "page_type": block.page_type,
        "count": str(block.product_count),
        "title": block.title or "",
        "selector": block.selector or "",
        "position": block.position,
        "placement_id": "" if block.placement_id is None else str(block.placement_id),
        "filters": orjson.dumps(block.filters).decode() if block.filters else "",
        "template": block.template or "",
    }


def variant_values(variant: Variant) -> dict[str, str]:
    return {
        "algorithm": variant.algorithm,
        "weight": f"{variant.weight:g}",
        "params": orjson.dumps(variant.params).decode() if variant.params else "",
    }
